import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { GatewayConfig } from '@portolan/config';
import { Logger } from '@portolan/logging';

/** What agents that pin the hub need to know of a certificate. */
export interface CertificateFacts {
  /** SHA-256 fingerprint, upper-case hex pairs separated by ':'. */
  readonly fingerprint: string;
  readonly subject: string;
  readonly notAfter: Date;
}

export interface TlsMaterial extends CertificateFacts {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly source: 'configured' | 'generated' | 'reused';
  /** The certificate staged to be served next (GATEWAY_TLS_NEXT_CERT_FILE), announced to pinning agents ahead of a rotation. */
  readonly next?: CertificateFacts;
}

/**
 * The gateway's certificate: the configured files, or a self-signed one made on first start and
 * kept (key 0600) under the data directory so agents can pin its fingerprint; and the facts of
 * the certificate staged to be served next, if one is configured.
 */
export async function loadTls(config: GatewayConfig, dataDir: string, logger: Logger): Promise<TlsMaterial> {
  const current = await loadCurrent(config, dataDir, logger);
  if (!config.tlsNextCertFile) return current;
  const next = factsOf(readCertificate(config.tlsNextCertFile, 'GATEWAY_TLS_NEXT_CERT_FILE'), 'GATEWAY_TLS_NEXT_CERT_FILE');
  return next.fingerprint === current.fingerprint ? current : { ...current, next };
}

async function loadCurrent(config: GatewayConfig, dataDir: string, logger: Logger): Promise<TlsMaterial> {
  if (config.tlsCertFile || config.tlsKeyFile) {
    if (!config.tlsCertFile || !config.tlsKeyFile) throw new Error('GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together');
    const cert = readCertificate(config.tlsCertFile, 'GATEWAY_TLS_CERT_FILE');
    return { cert, key: readFileSync(config.tlsKeyFile), ...factsOf(cert, 'GATEWAY_TLS_CERT_FILE'), source: 'configured' };
  }
  const dir = join(dataDir, 'tls');
  const keyFile = join(dir, 'gateway.key');
  const certFile = join(dir, 'gateway.crt');
  if (existsSync(keyFile) && existsSync(certFile)) {
    const cert = readFileSync(certFile);
    return { cert, key: readFileSync(keyFile), ...factsOf(cert, certFile), source: 'reused' };
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
  const facts = factsOf(cert, certFile);
  logger.info({ certFile, fingerprint: facts.fingerprint }, 'generated a self-signed gateway certificate');
  return { cert, key: Buffer.from(pems.private), ...facts, source: 'generated' };
}

function readCertificate(file: string, setting: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`${setting}: the certificate file ${file} could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The first certificate of a PEM file (the server's own, before any chain); `what` names the file or setting in an error. */
export function factsOf(pem: Buffer, what: string): CertificateFacts {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    throw new Error(`${what} does not hold a PEM certificate (${(error as Error).message})`);
  }
  return { fingerprint: cert.fingerprint256.toUpperCase(), subject: cert.subject.replace(/\n/g, ', '), notAfter: new Date(cert.validTo) };
}
