import { timingSafeEqual } from 'node:crypto';
import { AddressInfo, createServer, Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Server as SshServer, utils as sshUtils } from 'ssh2';
import { DeviceCli, EmulatedDeviceState, EmulatedKind } from './device.emulator';

export interface EmulatorLogin {
  readonly username: string;
  readonly password: string;
  /** An OpenSSH public key line the SSH emulator also accepts. */
  readonly publicKey?: string;
}

export interface RunningEmulator {
  readonly host: string;
  readonly port: number;
  readonly state: EmulatedDeviceState;
  /** Logins seen (successful or not), for tests that count connections. */
  readonly logins: { ok: number; refused: number };
  close(): Promise<void>;
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** Puts a device command line on a text stream: banner, prompt, one answer per line typed. */
function serveCli(stream: Duplex, cli: DeviceCli): void {
  let line = '';
  stream.write(`${cli.banner()}${cli.prompt}`);
  stream.on('data', (chunk: Buffer) => {
    for (const ch of chunk.toString('utf8')) {
      if (ch === '\r' || ch === '\n') {
        if (ch === '\n' && line === '' ) continue;
        const typed = line;
        line = '';
        const secret = cli.waitingForSecret;
        if (!secret) stream.write(`${typed}\r\n`); // echo, as a terminal does (never the enable secret)
        else stream.write('\r\n');
        const answer = cli.answer(typed);
        if (typed.trim() === 'exit' || typed.trim() === 'quit') return void stream.end();
        stream.write(cli.waitingForSecret ? answer : `${answer}${cli.prompt}`);
      } else line += ch;
    }
  });
}

/**
 * A network device emulated on ssh2's `Server` at 127.0.0.x: password and public-key logins,
 * its own host key (so tests can change it), an interactive shell with the device's prompt.
 */
/**
 * A fresh ed25519 key pair that ssh2 can read back. ssh2's generateKeyPairSync now and then
 * (about 3 in 1,000) writes an OpenSSH private key its own parser calls malformed; such a key is
 * made again (at most 20 tries).
 */
export function newEd25519KeyPair(encrypted?: { passphrase: string; cipher: string; rounds: number }): { private: string; public: string } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = encrypted ? sshUtils.generateKeyPairSync('ed25519', encrypted) : sshUtils.generateKeyPairSync('ed25519');
    if (!(sshUtils.parseKey(pair.private, encrypted?.passphrase) instanceof Error)) return pair;
  }
  throw new Error('ssh2 made 20 unreadable ed25519 keys in a row');
}

export async function startSshDevice(kind: EmulatedKind, host: string, login: EmulatorLogin, state: EmulatedDeviceState, hostKeyPem?: string, port = 0): Promise<RunningEmulator> {
  const hostKey = hostKeyPem ?? newEd25519KeyPair().private;
  const allowedKey = login.publicKey ? sshUtils.parseKey(login.publicKey) : undefined;
  const logins = { ok: 0, refused: 0 };
  const server = new SshServer({ hostKeys: [hostKey] }, (client) => {
    client.on('authentication', (ctx) => {
      if (ctx.username === login.username && ctx.method === 'password' && same(ctx.password, login.password)) {
        logins.ok += 1;
        return ctx.accept();
      }
      if (ctx.username === login.username && ctx.method === 'publickey' && allowedKey && !(allowedKey instanceof Error)) {
        const key = Array.isArray(allowedKey) ? allowedKey[0] : allowedKey;
        if (ctx.key.algo === key.type && ctx.key.data.equals(key.getPublicSSH())) {
          if (!ctx.signature) return ctx.accept();
          if (key.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) {
            logins.ok += 1;
            return ctx.accept();
          }
        }
      }
      if (ctx.method !== 'none') logins.refused += 1;
      ctx.reject(['password', 'publickey']);
    });
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept();
        session.on('pty', (acceptPty) => acceptPty?.());
        session.on('shell', (acceptShell) => serveCli(acceptShell(), new DeviceCli(kind, state)));
        session.on('exec', (acceptExec, _reject, info) => {
          const channel = acceptExec();
          // An exec channel has no terminal: no paging, as on the devices themselves.
          const cli = new DeviceCli(kind, state);
          cli.answer('terminal length 0');
          channel.write(cli.answer(info.command));
          channel.exit(0);
          channel.end();
        });
      });
    });
    client.on('error', () => undefined);
  });
  // Interactive sessions go out at once (TCP_NODELAY), as OpenSSH and device SSH servers send them.
  (server as unknown as { _srv?: NetServer })._srv?.on('connection', (socket: Socket) => socket.setNoDelay(true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const clients = new Set<{ end(): void }>();
  server.on('connection', (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    state,
    logins,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
}

/**
 * The same device over Telnet at 127.0.0.x: a `Username:` / `Password:` login (a wrong password
 * answers `% Login invalid` and asks again, as IOS does), then the command line. No option
 * negotiation: a plain-text Telnet peer, as many legacy devices are.
 */
export async function startTelnetDevice(kind: EmulatedKind, host: string, login: EmulatorLogin, state: EmulatedDeviceState): Promise<RunningEmulator> {
  const logins = { ok: 0, refused: 0 };
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let phase: 'user' | 'password' = 'user';
    let user = '';
    let line = '';
    socket.write('\r\nUser Access Verification\r\n\r\nUsername: ');
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch !== '\r' && ch !== '\n') {
          line += ch;
          continue;
        }
        if (ch === '\n' && line === '') continue;
        const typed = line;
        line = '';
        if (phase === 'user') {
          user = typed;
          phase = 'password';
          socket.write(`${typed}\r\nPassword: `);
          continue;
        }
        if (user === login.username && same(typed, login.password)) {
          logins.ok += 1;
          socket.off('data', onData);
          socket.write('\r\n');
          serveCli(socket, new DeviceCli(kind, state));
          return;
        }
        logins.refused += 1;
        phase = 'user';
        socket.write('\r\n% Login invalid\r\n\r\nUsername: ');
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host,
    port,
    state,
    logins,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
