import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { GatewayConfig } from '@portolan/config';
import { Logger } from '@portolan/logging';

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** SHA-256 fingerprint of the certificate, for agents that pin a self-signed hub. */
  readonly fingerprint: string;
  readonly source: 'configured' | 'generated' | 'reused';
}

/**
 * The gateway's certificate: the configured files, or a self-signed one made on first start and
 * kept (key 0600) under the data directory so agents can pin its fingerprint.
 */
export async function loadTls(config: GatewayConfig, dataDir: string, logger: Logger): Promise<TlsMaterial> {
  if (config.tlsCertFile || config.tlsKeyFile) {
    if (!config.tlsCertFile || !config.tlsKeyFile) throw new Error('GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together');
    const cert = readFileSync(config.tlsCertFile);
    return { cert, key: readFileSync(config.tlsKeyFile), fingerprint: fingerprint(cert), source: 'configured' };
  }
  const dir = join(dataDir, 'tls');
  const keyFile = join(dir, 'gateway.key');
  const certFile = join(dir, 'gateway.crt');
  if (existsSync(keyFile) && existsSync(certFile)) {
    const cert = readFileSync(certFile);
    return { cert, key: readFileSync(keyFile), fingerprint: fingerprint(cert), source: 'reused' };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notAfter = new Date(Date.now() + 825 * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: 'portolan-hub' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  const cert = Buffer.from(pems.cert);
  logger.info({ certFile, fingerprint: fingerprint(cert) }, 'generated a self-signed gateway certificate');
  return { cert, key: Buffer.from(pems.private), fingerprint: fingerprint(cert), source: 'generated' };
}

function fingerprint(cert: Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}
