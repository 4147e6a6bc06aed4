/**
 * The real ss on this machine, and the real execFile runner. Listeners go on 127.0.0.77 only
 * (loopback), on ports the kernel picks, and are closed again before the second collection.
 */
import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { execFileRunner } from './command.runner';
import type { ListeningSocket } from './listening-socket.model';
import { collectListeningSockets } from './listening-sockets.collector';

jest.setTimeout(20_000);

const ADDRESS = '127.0.0.77';

function listenTcp(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, ADDRESS, () => resolve(server));
  });
}

function bindUdp(): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, ADDRESS, () => resolve(socket));
  });
}

function find(sockets: ListeningSocket[], protocol: 'tcp' | 'udp', port: number): ListeningSocket | undefined {
  return sockets.find((s) => s.protocol === protocol && s.port === port && s.bindAddress === ADDRESS);
}

describe('collectListeningSockets with the real ss', () => {
  it('sees a TCP listener and a bound UDP socket of this process, then sees them gone', async () => {
    const server = await listenTcp();
    const udp = await bindUdp();
    const tcpPort = (server.address() as AddressInfo).port;
    const udpPort = udp.address().port;

    const open = await collectListeningSockets({ platform: 'linux' });

    expect(open.tool).toBe('ss');
    expect(open.args).toEqual(['-tulpnH']);
    expect(open.toolVersion).toMatch(/iproute2/);
    expect(find(open.sockets, 'tcp', tcpPort)).toEqual({ protocol: 'tcp', bindAddress: ADDRESS, port: tcpPort, process: expect.stringMatching(/node|jest/), pid: process.pid });
    expect(find(open.sockets, 'udp', udpPort)).toEqual({ protocol: 'udp', bindAddress: ADDRESS, port: udpPort, process: expect.stringMatching(/node|jest/), pid: process.pid });

    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    const closed = await collectListeningSockets({ platform: 'linux' });

    expect(find(closed.sockets, 'tcp', tcpPort)).toBeUndefined();
    expect(find(closed.sockets, 'udp', udpPort)).toBeUndefined();
  });
});

describe('execFileRunner', () => {
  const options = { timeoutMs: 5_000, maxBytes: 1024 * 1024 };

  it('rejects with code ENOENT for a program that is not installed', async () => {
    const error = await execFileRunner('portolan-no-such-tool', ['-V'], options).catch((e: NodeJS.ErrnoException) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('resolves with the exit code, stdout and stderr of a program that fails', async () => {
    const script = "process.stdout.write('out'); process.stderr.write('err'); process.exit(3)";
    await expect(execFileRunner(process.execPath, ['-e', script], options)).resolves.toEqual({ stdout: 'out', stderr: 'err', exitCode: 3 });
  });

  it('passes arguments without a shell', async () => {
    const result = await execFileRunner(process.execPath, ['-e', 'process.stdout.write(process.argv[1])', '$(id); `x` *'], options);
    expect(result.stdout).toBe('$(id); `x` *');
  });

  it('rejects with code ETIMEDOUT when the program outlives the timeout', async () => {
    const started = Date.now();
    const error = await execFileRunner(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { ...options, timeoutMs: 300 }).catch((e: NodeJS.ErrnoException) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects rather than truncates output past maxBytes', async () => {
    const error = await execFileRunner(process.execPath, ['-e', "process.stdout.write('x'.repeat(100000))"], { ...options, maxBytes: 1000 }).catch((e: NodeJS.ErrnoException) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
  });
});
