import { ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingHttpHeaders } from 'node:http';
import { createServer, Server } from 'node:https';
import { AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { HubClient, HubUnreachableError } from './hub.client';
import { createHubAgent, HubTrust, HubTrustError } from './hub.tls';

const TINYPROXY = '/usr/bin/tinyproxy';
const PROXY_USER = 'portolan-agent';
const PROXY_PASSWORD = 'pr0xy-Pa55word';
const SECRET = 'agent-secret-that-only-the-hub-may-see-0123456789';

/** A free TCP port on 127.0.0.1 (listened on, then released). */
async function freePort(): Promise<number> {
  const server = createTcpServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Until `host:port` takes a connection, for at most `timeoutMs`. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    const ok = await new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true)).once('error', () => resolve(false)));
    socket.destroy();
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The agent's hub connections through a real HTTP proxy (Debian's tinyproxy, started here on
 * 127.0.0.1 with Basic authentication) to a TLS server on loopback standing in for the hub: the
 * tunnel carries the agent's own TLS session, so the hub's certificate is checked as without a
 * proxy and the proxy sees where the agent connects, not what it says.
 */
describe('hub connections through an HTTP proxy (tinyproxy, TLS on loopback)', () => {
  let dir: string;
  let proxy: ChildProcess;
  let proxyPort: number;
  let hub: Server;
  let hubPort: number;
  let fingerprint: string;
  let caFile: string;
  const seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portolan-proxy-'));
    // The hub's certificate names localhost only: reached as 127.0.0.1 it must fail host name verification.
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }] });
    fingerprint = new X509Certificate(pems.cert).fingerprint256;
    caFile = join(dir, 'hub-ca.pem');
    writeFileSync(caFile, pems.cert);
    hub = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
      seen.push(request.headers);
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ configVersion: 7, jobs: [] }));
    });
    hub.listen(0, '127.0.0.1');
    await once(hub, 'listening');
    hubPort = (hub.address() as AddressInfo).port;

    proxyPort = await freePort();
    writeFileSync(
      join(dir, 'tinyproxy.conf'),
      [`Port ${proxyPort}`, 'Listen 127.0.0.1', 'Timeout 30', `LogFile "${join(dir, 'tinyproxy.log')}"`, 'LogLevel Connect', 'MaxClients 20', 'Allow 127.0.0.1', `BasicAuth ${PROXY_USER} ${PROXY_PASSWORD}`, `ConnectPort ${hubPort}`, ''].join('\n'),
    );
    proxy = spawn(TINYPROXY, ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
    await listening(proxyPort, 10_000);
  }, 30_000);

  afterAll(async () => {
    proxy?.kill();
    hub?.closeAllConnections();
    hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const proxyUrl = (password = PROXY_PASSWORD) => `http://${PROXY_USER}:${encodeURIComponent(password)}@127.0.0.1:${proxyPort}`;
  const poll = (hubHost: string, trust: HubTrust) => {
    const { agent } = createHubAgent(trust);
    const client = new HubClient(`https://${hubHost}:${hubPort}/api/`, agent, { agentId: 'a1', secret: SECRET });
    return client.poll({ wait: 0, boot: '00000000-0000-4000-8000-000000000001', version: '0.9.0', spoolEntries: 0, spoolDropped: 0 }).finally(() => agent.destroy());
  };
  const proxyLog = () => readFileSync(join(dir, 'tinyproxy.log'), 'utf8');

  it('reaches a pinned hub through the tunnel with the proxy user and password; the proxy sees the tunnel, not the request', async () => {
    seen.length = 0;
    expect(await poll('127.0.0.1', { pinSha256: [fingerprint], hubProxy: proxyUrl() })).toEqual({ configVersion: 7, jobs: [] });
    expect(seen).toHaveLength(1);
    expect(seen[0]['authorization']).toBe(`Bearer a1.${SECRET}`);
    expect(seen[0]['proxy-authorization']).toBeUndefined();
    // Stamped with the agent's clock once the connection was there (made, tunnelled and checked).
    expect(Math.abs(Number(seen[0]['x-portolan-agent-time']) - Date.now())).toBeLessThan(5_000);
    expect(proxyLog()).toContain(`CONNECT 127.0.0.1:${hubPort}`);
    expect(proxyLog()).not.toContain(SECRET);
  });

  it('verifies a CA-trusted hub by its name through the tunnel: localhost passes, the same hub as 127.0.0.1 does not', async () => {
    expect(await poll('localhost', { caFile, hubProxy: proxyUrl() })).toEqual({ configVersion: 7, jobs: [] });
    const error = await poll('127.0.0.1', { caFile, hubProxy: proxyUrl() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubTrustError);
    expect(String(error)).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('refuses a hub whose certificate matches no pin, through the tunnel too, before sending anything', async () => {
    seen.length = 0;
    const error = await poll('127.0.0.1', { pinSha256: [Array.from({ length: 32 }, () => 'AB').join(':')], hubProxy: proxyUrl() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubTrustError);
    expect(String(error)).toMatch(/matches none of the pinned fingerprints/);
    expect(seen).toEqual([]);
  });

  it('says the hub is unreachable, naming the proxy and its answer but never the password, when the proxy refuses or is not there', async () => {
    const refused = await poll('127.0.0.1', { pinSha256: [fingerprint], hubProxy: proxyUrl('wrong-Password') }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HubUnreachableError);
    // A proxy should answer 407; tinyproxy 1.11 answers 401.
    expect(String(refused)).toMatch(new RegExp(`the proxy http://127\\.0\\.0\\.1:${proxyPort} answered 40[17] .* to CONNECT 127\\.0\\.0\\.1:${hubPort}`));
    expect(String(refused)).not.toContain('wrong-Password');

    const absent = await freePort();
    const gone = await poll('127.0.0.1', { pinSha256: [fingerprint], hubProxy: `http://${PROXY_USER}:${PROXY_PASSWORD}@127.0.0.1:${absent}` }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(HubUnreachableError);
    expect(String(gone)).toMatch(new RegExp(`the proxy http://127.0.0.1:${absent} could not be reached: .*ECONNREFUSED`));
    expect(String(gone)).not.toContain(PROXY_PASSWORD);
  });

  it('gives up a pinned connection whose TLS handshake never completes, rather than wait for ever', async () => {
    // Takes the connection and says nothing: no request holds the connection yet, so only the agent's own deadline ends it.
    const silent = createTcpServer(() => undefined).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const { agent } = createHubAgent({ pinSha256: [fingerprint], connectTimeoutMs: 500 });
    const client = new HubClient(`https://127.0.0.1:${port}/api/`, agent, { agentId: 'a1', secret: SECRET });
    const started = Date.now();
    const error = await client.poll({ wait: 0, boot: '00000000-0000-4000-8000-000000000001', version: '0.9.0', spoolEntries: 0, spoolDropped: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HubUnreachableError);
    expect(String(error)).toMatch(/the TLS handshake with the hub did not complete within 500 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
    agent.destroy();
    silent.close();
  });
});
