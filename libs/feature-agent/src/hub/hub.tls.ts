import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, ConnectionOptions, TLSSocket } from 'node:tls';
import { DomainError } from '@portolan/contracts';

export interface HubTrust {
  readonly caFile?: string;
  readonly pinSha256?: string;
}

/** Raised when the hub's certificate is not trusted. Never retried as "hub unreachable". */
export class HubTrustError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubTrustError';
  }
}

/**
 * An HTTPS agent that trusts the hub the configured way:
 * - `pinSha256`: exactly the certificate with that SHA-256 fingerprint (a self-signed hub). The
 *   connection is checked after the TLS handshake and before any byte of the request (and so
 *   the agent's secret) is written; a mismatch destroys it.
 * - `caFile`: certificates issued by that CA, with host name verification.
 * - neither: the system's CAs, with host name verification.
 */
export function createHubAgent(trust: HubTrust): HttpsAgent {
  const base: AgentOptions = { keepAlive: true, maxSockets: 4, timeout: 60_000 };
  if (trust.pinSha256) return new PinnedHttpsAgent(base, trust.pinSha256);
  if (trust.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(trust.caFile);
    } catch (error) {
      throw new DomainError('invalid_config', `hub CA file ${trust.caFile} could not be read: ${(error as Error).message}`);
    }
    return new HttpsAgent({ ...base, ca, rejectUnauthorized: true });
  }
  return new HttpsAgent({ ...base, rejectUnauthorized: true });
}

class PinnedHttpsAgent extends HttpsAgent {
  constructor(
    options: AgentOptions,
    private readonly pin: string,
  ) {
    super(options);
  }

  override createConnection(options: ConnectionOptions, callback: (error: Error | null, socket: Duplex) => void): undefined {
    // The chain of a self-signed certificate cannot verify; the pin is the whole check.
    const socket: TLSSocket = connect({ ...options, rejectUnauthorized: false });
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      callback(error, socket);
    };
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256?.toUpperCase();
      if (fingerprint === this.pin) return settle(null);
      const error = new HubTrustError(`the hub's certificate (SHA-256 ${fingerprint ?? 'none'}) does not match the pinned fingerprint ${this.pin}; refusing to talk to it`);
      settle(error);
      socket.destroy();
    });
    socket.once('error', (error) => settle(error));
    return undefined;
  }
}
