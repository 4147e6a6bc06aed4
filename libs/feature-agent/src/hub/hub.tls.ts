import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, ConnectionOptions, TLSSocket } from 'node:tls';
import { DomainError } from '@portolan/contracts';

export interface HubTrust {
  readonly caFile?: string;
  readonly pinSha256?: readonly string[];
}

/**
 * The certificate fingerprints a pinning agent trusts: those configured, which are always
 * trusted, and those the hub announced in the agent's configuration (`hubPins`: its gateways'
 * certificates in use and staged). The hub is heard only over a connection already pinned, so
 * what it announces extends a trust the agent already has; a new announcement replaces the last.
 */
export class HubPins {
  private readonly configured: ReadonlySet<string>;
  private learned: ReadonlySet<string> = new Set();
  private readonly droppedListeners: (() => void)[] = [];

  constructor(configured: readonly string[]) {
    this.configured = new Set(configured.map(normalise));
  }

  trusts(fingerprint: string): boolean {
    const f = normalise(fingerprint);
    return this.configured.has(f) || this.learned.has(f);
  }

  /** Takes the hub's announcement as the learned pins; answers what that added and dropped (configured pins left out). */
  learn(announced: readonly string[]): { added: string[]; dropped: string[] } {
    const next = new Set(announced.map(normalise).filter((f) => !this.configured.has(f)));
    const added = [...next].filter((f) => !this.learned.has(f));
    const dropped = [...this.learned].filter((f) => !next.has(f));
    this.learned = next;
    if (dropped.length) for (const listener of this.droppedListeners) listener();
    return { added, dropped };
  }

  /** Called whenever a pin stops being trusted (the connection pool closes what it no longer trusts). */
  onDropped(listener: () => void): void {
    this.droppedListeners.push(listener);
  }

  /** For an error message: how many pins of each kind there are. */
  describe(): string {
    return `${this.configured.size} configured${this.learned.size ? ` and ${this.learned.size} announced by the hub` : ''}`;
  }
}

const normalise = (fingerprint: string) => fingerprint.trim().toUpperCase();

/** Raised when the hub's certificate is not trusted. Never retried as "hub unreachable". */
export class HubTrustError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubTrustError';
  }
}

/**
 * An HTTPS agent that trusts the hub the configured way, and with it, when the agent pins the
 * hub, the pin set it checks (for the hub's announcements to extend):
 * - `pinSha256`: exactly the certificates with those SHA-256 fingerprints (a self-signed hub),
 *   and those the hub announces (`HubPins`). The connection is checked after the TLS handshake
 *   and before any byte of the request (and so the agent's secret) is written; a mismatch
 *   destroys it.
 * - `caFile`: certificates issued by that CA, with host name verification.
 * - neither: the system's CAs, with host name verification.
 */
export function createHubAgent(trust: HubTrust): { agent: HttpsAgent; pins?: HubPins } {
  const base: AgentOptions = { keepAlive: true, maxSockets: 4, timeout: 60_000 };
  if (trust.pinSha256?.length) {
    const pins = new HubPins(trust.pinSha256);
    const agent = new PinnedHttpsAgent(base, pins);
    pins.onDropped(() => agent.closeUntrusted());
    return { agent, pins };
  }
  if (trust.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(trust.caFile);
    } catch (error) {
      throw new DomainError('invalid_config', `hub CA file ${trust.caFile} could not be read: ${(error as Error).message}`);
    }
    return { agent: new HttpsAgent({ ...base, ca, rejectUnauthorized: true }) };
  }
  return { agent: new HttpsAgent({ ...base, rejectUnauthorized: true }) };
}

/**
 * Checks each new connection against the pins. A kept-alive connection was checked when it was
 * made; when a pin stops being trusted, those to a certificate it no longer trusts are closed
 * (an idle one, or one carrying a long poll, which then fails and is made again, and checked).
 */
class PinnedHttpsAgent extends HttpsAgent {
  /** Open connections and the fingerprint each was checked against. */
  private readonly open = new Map<TLSSocket, string>();

  constructor(
    options: AgentOptions,
    private readonly pins: HubPins,
  ) {
    super(options);
  }

  closeUntrusted(): void {
    for (const [socket, fingerprint] of this.open) if (!this.pins.trusts(fingerprint)) socket.destroy();
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
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      if (fingerprint && this.pins.trusts(fingerprint)) {
        this.open.set(socket, fingerprint);
        socket.once('close', () => this.open.delete(socket));
        return settle(null);
      }
      const error = new HubTrustError(`the hub's certificate (SHA-256 ${fingerprint ?? 'none'}) matches none of the pinned fingerprints (${this.pins.describe()}); refusing to talk to it`);
      settle(error);
      socket.destroy();
    });
    socket.once('error', (error) => settle(error));
    return undefined;
  }
}
