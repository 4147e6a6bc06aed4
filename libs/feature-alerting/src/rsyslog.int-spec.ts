import { ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { Alert, ChannelSettings, deliver } from '@portolan/alerts';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What rsyslog's RFC 5424 parser made of each message, one line per message. */
const FIELDS = '%protocol-version%|%pri%|%timestamp:::date-rfc3339%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\\n';

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

async function until<T>(what: string, ready: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * The Debian rsyslog, started by the test on 127.0.0.1 with its own configuration: RFC 5424
 * over UDP, over TCP (octet-counted frames) and over TLS (GnuTLS, a certificate made by the
 * test), each input writing what rsyslog parsed into its own file.
 */
async function startRsyslog() {
  if (!existsSync(RSYSLOGD)) throw new Error(`${RSYSLOGD} is missing: .ci/run installs the Debian packages rsyslog and rsyslog-gnutls`);
  const dir = await mkdtemp(join(tmpdir(), 'portolan-rsyslog-'));
  const pems = await generate([{ name: 'commonName', value: 'siem.test' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
  await writeFile(join(dir, 'cert.pem'), pems.cert);
  await writeFile(join(dir, 'key.pem'), pems.private, { mode: 0o600 });
  const ports = { udp: await freeUdpPort(), tcp: await freeTcpPort(), tls: await freeTcpPort() };
  const file = (name: string) => join(dir, `${name}.log`);
  await writeFile(
    join(dir, 'rsyslog.conf'),
    [
      `global(workDirectory="${dir}" defaultNetstreamDriverCAFile="${dir}/cert.pem" defaultNetstreamDriverCertFile="${dir}/cert.pem" defaultNetstreamDriverKeyFile="${dir}/key.pem")`,
      'module(load="imudp")',
      'module(load="imtcp" maxSessions="200")',
      `template(name="fields" type="string" string="${FIELDS}")`,
      `input(type="imudp" address="127.0.0.1" port="${ports.udp}" ruleset="udp")`,
      `input(type="imtcp" address="127.0.0.1" port="${ports.tcp}" ruleset="tcp")`,
      `input(type="imtcp" address="127.0.0.1" port="${ports.tls}" ruleset="tls" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")`,
      ...(['udp', 'tcp', 'tls'] as const).map((name) => `ruleset(name="${name}") { action(type="omfile" file="${file(name)}" template="fields") }`),
      '',
    ].join('\n'),
  );
  const output: string[] = [];
  const child: ChildProcess = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
  child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
  const lines = async (name: 'udp' | 'tcp' | 'tls') => (existsSync(file(name)) ? (await readFile(file(name), 'utf8')).split('\n').filter(Boolean) : []);
  try {
    await until('rsyslog listening on TCP and TLS', async () => (child.exitCode === null && (await answers(ports.tcp)) && (await answers(ports.tls)) ? true : undefined), 15_000);
    // UDP has no handshake: a probe datagram, sent until rsyslog has written one.
    const probe = createSocket('udp4');
    await until('rsyslog reading UDP', async () => {
      await new Promise<void>((resolve) => probe.send('<134>1 2026-12-01T00:00:00Z test probe - - - ready', ports.udp, '127.0.0.1', () => resolve()));
      await sleep(100);
      return (await lines('udp')).length ? true : undefined;
    });
    probe.close();
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; rsyslogd said: ${output.join('').slice(0, 2_000)}`);
  }
  const skip = (await lines('udp')).length; // the probes
  return {
    ports,
    ca: pems.cert,
    /** The messages rsyslog received on one input, as it parsed them (UDP without the probes). */
    received: async (name: 'udp' | 'tcp' | 'tls') => (await lines(name)).slice(name === 'udp' ? skip : 0).map((line) => line.split('|')),
    stop: async () => {
      const exited = child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : Promise.resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const alert = (over: Partial<Alert['event']> = {}): Alert => ({
  id: 'e1:r1:c1',
  rule: { id: 'r1', name: 'RDP | exposure' },
  severity: 'high',
  event: {
    id: 'b1c7d2a0-8a7e-4a55-9d0c-3d3f6f0e1a01',
    kind: 'added',
    occurredAt: '2026-12-01T10:00:00.000Z',
    device: { id: 'd1', name: 'web=01' },
    host: '127.0.0.61',
    itemType: 'port',
    itemKey: 'tcp/3389',
    protocol: 'tcp',
    port: 3389,
    before: null,
    after: { protocol: 'tcp', port: 3389, state: 'open', service: 'ms-wbt-server' },
    planned: false,
    plannedChangeId: null,
    ...over,
  },
  link: 'https://hub.example.test:8443/api/events/b1c7d2a0-8a7e-4a55-9d0c-3d3f6f0e1a01',
});

/**
 * Syslog alerts against a real rsyslog (Debian's): it parses them as RFC 5424 (version 1,
 * local0 with the alert's severity, app-name portolan, the kind as msgid, structured data) with
 * the CEF or JSON body intact, over UDP, TCP and TLS; a TLS receiver whose certificate is not
 * trusted, and a closed port, are clear errors.
 */
describe('syslog alerts received by a real rsyslog on loopback', () => {
  let rsyslog: Awaited<ReturnType<typeof startRsyslog>>;
  const meta = { hostname: 'hub-1', version: '0.1.0' };

  beforeAll(async () => {
    rsyslog = await startRsyslog();
  }, 30_000);

  afterAll(async () => {
    await rsyslog?.stop();
  });

  const settings = (transport: 'udp' | 'tcp' | 'tls', format: 'cef' | 'json', ca?: string): Extract<ChannelSettings, { type: 'syslog' }> => ({ type: 'syslog', host: '127.0.0.1', port: rsyslog.ports[transport], transport, format, ...(ca ? { ca } : {}) });
  const arrived = (transport: 'udp' | 'tcp' | 'tls', n: number) => until(`${n} message(s) over ${transport}`, async () => ((await rsyslog.received(transport)).length >= n ? rsyslog.received(transport) : undefined));

  it('RFC 5424 with a CEF body over TCP and TLS, every message once, in order, parsed field by field', async () => {
    const alerts = Array.from({ length: 20 }, (_, i) => alert({ id: `b1c7d2a0-8a7e-4a55-9d0c-3d3f6f0e1a${String(i).padStart(2, '0')}` }));
    for (const a of alerts) await deliver(settings('tcp', 'cef'), {}, a, meta);
    for (const a of alerts) await deliver(settings('tls', 'cef', rsyslog.ca), {}, a, meta);
    for (const transport of ['tcp', 'tls'] as const) {
      const got = await arrived(transport, alerts.length);
      await sleep(300); // time for anything extra to (wrongly) arrive
      expect(await rsyslog.received(transport)).toHaveLength(alerts.length);
      got.forEach(([version, pri, timestamp, hostname, app, procid, msgid, sd, ...body], i) => {
        expect({ version, pri, hostname, app, procid, msgid }).toEqual({ version: '1', pri: '131', hostname: 'hub-1', app: 'portolan', procid: '-', msgid: 'added' });
        expect(Number.isNaN(Date.parse(timestamp))).toBe(false);
        expect(sd).toBe(`[portolan@32473 eventId="${alerts[i].event.id}" kind="added" planned="false"]`);
        const cef = body.join('|');
        expect(cef.startsWith('CEF:0|Portolan|Portolan|0.1.0|added|Unplanned: tcp/3389 opened on 127.0.0.61 (web=01)|8|')).toBe(true);
        expect(cef).toContain('dvchost=web\\=01');
        expect(cef).toContain('dpt=3389');
        expect(cef).toContain(`externalId=${alerts[i].event.id}`);
      });
    }
  }, 30_000);

  it('RFC 5424 with a JSON body over UDP', async () => {
    const a = alert({ planned: true, plannedChangeId: '5f0c9b1e-3a1d-4c61-8c55-7d1b0b3b2c10' });
    await deliver(settings('udp', 'json'), {}, a, meta);
    const [[version, pri, , hostname, app, , msgid, sd, ...body]] = await arrived('udp', 1);
    expect({ version, pri, hostname, app, msgid }).toEqual({ version: '1', pri: '131', hostname: 'hub-1', app: 'portolan', msgid: 'added' });
    expect(sd).toBe(`[portolan@32473 eventId="${a.event.id}" kind="added" planned="true"]`);
    expect(JSON.parse(body.join('|'))).toMatchObject({ severity: 'high', event: { id: a.event.id, planned: true, plannedChangeId: a.event.plannedChangeId, port: 3389 } });
  }, 20_000);

  it('a TLS receiver with a certificate the channel does not trust, and a closed port, are clear errors', async () => {
    const before = (await rsyslog.received('tls')).length;
    await expect(deliver(settings('tls', 'cef'), {}, alert(), meta)).rejects.toThrow(`syslog tls://127.0.0.1:${rsyslog.ports.tls}: self-signed certificate`);
    const closed = await freeTcpPort();
    await expect(deliver({ ...settings('tcp', 'cef'), port: closed }, {}, alert(), meta)).rejects.toThrow(`syslog tcp://127.0.0.1:${closed}: connect ECONNREFUSED 127.0.0.1:${closed}`);
    await sleep(300);
    expect(await rsyslog.received('tls')).toHaveLength(before);
  }, 20_000);
});
