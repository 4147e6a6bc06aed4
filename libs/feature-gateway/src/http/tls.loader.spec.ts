import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '@portolan/config';
import { loadTls } from './tls.loader';

/** The gateway's certificate and the one staged to serve next, as pinning agents are told of them. */
describe('gateway TLS: the next certificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-tls-'));
  const logger = pino({ level: 'silent' });
  const load = (env: Record<string, string>, dataDir: string) => loadTls(loadGatewayConfig(env), dataDir, logger);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('announces the staged certificate by its fingerprint, beside the one served', async () => {
    // Two self-signed certificates made the way the gateway makes its own: the first one served, the second staged.
    const first = await load({}, join(dir, 'a'));
    const second = await load({}, join(dir, 'b'));
    const nextFile = join(dir, 'b', 'tls', 'gateway.crt');
    const tls = await load({ GATEWAY_TLS_NEXT_CERT_FILE: nextFile }, join(dir, 'a'));
    expect(tls.fingerprint).toBe(first.fingerprint);
    expect(tls.next).toEqual({ fingerprint: new X509Certificate(readFileSync(nextFile)).fingerprint256, subject: 'CN=portolan-hub', notAfter: second.notAfter });
    expect(tls.next?.fingerprint).not.toBe(tls.fingerprint);
  });

  it('names the setting when the next certificate is missing or is not a certificate', async () => {
    await expect(load({ GATEWAY_TLS_NEXT_CERT_FILE: join(dir, 'missing.pem') }, join(dir, 'a'))).rejects.toThrow(/^GATEWAY_TLS_NEXT_CERT_FILE: the certificate file .*missing\.pem could not be read \(ENOENT\)$/);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    await expect(load({ GATEWAY_TLS_NEXT_CERT_FILE: garbage }, join(dir, 'a'))).rejects.toThrow(/^GATEWAY_TLS_NEXT_CERT_FILE does not hold a PEM certificate/);
  });

  it('announces nothing more when the staged certificate is the one already served', async () => {
    const tls = await load({ GATEWAY_TLS_NEXT_CERT_FILE: join(dir, 'a', 'tls', 'gateway.crt') }, join(dir, 'a'));
    expect(tls.next).toBeUndefined();
  });
});
