import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { request, Server, createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { createHubAgent } from './hub.tls';

/**
 * The pinning HTTPS agent against a real TLS server on 127.0.0.1: a learned pin lets it in, and
 * dropping that pin closes the kept-alive connection instead of leaving it trusted.
 */
describe('pinned hub connections (TLS on loopback)', () => {
  let server: Server;
  let port: number;
  let fingerprint: string;
  const closed: string[] = [];

  beforeAll(async () => {
    const pems = await generate([{ name: 'commonName', value: 'pin-test' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
    fingerprint = new X509Certificate(pems.cert).fingerprint256;
    server = createServer({ key: pems.private, cert: pems.cert, keepAliveTimeout: 60_000 }, (_request, response) => response.end('ok'));
    server.on('connection', (socket) => socket.on('close', () => closed.push('closed')));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  const get = (agent: ReturnType<typeof createHubAgent>['agent']) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5_000 }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

  it('trusts a pin learned from the hub, and closes the kept-alive connection when that pin is dropped', async () => {
    const other = Array.from({ length: 32 }, () => 'AB').join(':');
    const { agent, pins } = createHubAgent({ pinSha256: [other] });
    await expect(get(agent)).rejects.toThrow(/matches none of the pinned fingerprints \(1 configured\)/);

    pins!.learn([fingerprint]);
    expect(await get(agent)).toBe('ok');
    closed.length = 0;
    // The connection stays open for the next request (keep-alive) ...
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closed).toEqual([]);
    // ... until the pin it was checked against is dropped.
    pins!.learn([]);
    const deadline = Date.now() + 5_000;
    while (!closed.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toEqual(['closed']);
    await expect(get(agent)).rejects.toThrow(/matches none of the pinned fingerprints/);
    agent.destroy();
  });
});
