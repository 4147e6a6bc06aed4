import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent, AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect, ConnectionOptions, TLSSocket } from 'node:tls';
import { DomainError } from '@portolan/contracts';
import { HubProxy, openTunnel, parseHubProxy } from './hub.proxy';

export interface HubTrust {
  readonly caFile?: string;
  readonly pinSha256?: readonly string[];
  /** `http://[user[:password]@]host[:port]`: reach the hub through this proxy (CONNECT). */
  readonly hubProxy?: string;
  /** How long a pinned connection may take to be made and checked (default 30 s). */
  readonly connectTimeoutMs?: number;
}

/** How long a proxy may take to open a tunnel to the hub, and a pinned connection to be made and checked. */
const CONNECT_TIMEOUT_MS = 30_000;

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
 * With `hubProxy`, each connection is a TLS session with the hub inside a CONNECT tunnel through
 * the proxy, checked the same way.
 */
export function createHubAgent(trust: HubTrust): { agent: HttpsAgent; pins?: HubPins; proxy?: HubProxy } {
  const base: AgentOptions = { keepAlive: true, maxSockets: 4, timeout: 60_000 };
  const proxy = trust.hubProxy ? parseHubProxy(trust.hubProxy) : undefined;
  if (trust.pinSha256?.length) {
    const pins = new HubPins(trust.pinSha256);
    const agent = new HubHttpsAgent(base, pins, proxy, trust.connectTimeoutMs);
    pins.onDropped(() => agent.closeUntrusted());
    return { agent, pins, proxy };
  }
  if (trust.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(trust.caFile);
    } catch (error) {
      throw new DomainError('invalid_config', `hub CA file ${trust.caFile} could not be read: ${(error as Error).message}`);
    }
    return { agent: new HubHttpsAgent({ ...base, ca, rejectUnauthorized: true }, undefined, proxy, trust.connectTimeoutMs), proxy };
  }
  return { agent: new HubHttpsAgent({ ...base, rejectUnauthorized: true }, undefined, proxy, trust.connectTimeoutMs), proxy };
}

/**
 * Makes each connection to the hub: straight, or through the proxy's tunnel; and, with pins,
 * checks it against them before handing it to a request. A kept-alive connection was checked
 * when it was made; when a pin stops being trusted, those to a certificate it no longer trusts
 * are closed (an idle one, or one carrying a long poll, which then fails and is made again, and
 * checked).
 */
class HubHttpsAgent extends HttpsAgent {
  /** Open pinned connections and the fingerprint each was checked against. */
  private readonly open = new Map<TLSSocket, string>();

  constructor(
    options: AgentOptions,
    private readonly pins?: HubPins,
    private readonly proxy?: HubProxy,
    private readonly connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ) {
    super(options);
  }

  closeUntrusted(): void {
    for (const [socket, fingerprint] of this.open) if (!this.pins?.trusts(fingerprint)) socket.destroy();
  }

  override createConnection(options: ConnectionOptions, callback: (error: Error | null, socket: Duplex) => void): Duplex | null | undefined {
    // Straight to a hub trusted by its CA: Node's own (with its TLS session cache).
    if (!this.pins && !this.proxy) return super.createConnection(options, callback);
    // The chain of a self-signed certificate cannot verify; the pin is the whole check.
    const tls: ConnectionOptions = this.pins ? { ...options, rejectUnauthorized: false } : options;
    if (!this.proxy) {
      this.secure(connect(tls), callback);
      return undefined;
    }
    openTunnel(this.proxy, String(options.host), Number(options.port), this.connectTimeoutMs).then(
      (tunnel) => this.secure(connect({ ...tls, socket: tunnel }), callback),
      (error: Error) => callback(error, undefined as unknown as Duplex),
    );
    return undefined;
  }

  /**
   * Hands the TLS connection over: at once (its certificate is verified in the handshake, under
   * the request's own timeout), or once its pin is checked. Until then no request holds it, so no
   * request timeout or stop signal reaches it: a hub (or a proxy's tunnel) that takes the
   * connection and never completes the handshake is given up after `connectTimeoutMs`.
   */
  private secure(socket: TLSSocket, callback: (error: Error | null, socket: Duplex) => void): void {
    const pins = this.pins;
    if (!pins) return callback(null, socket);
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      callback(error, socket);
    };
    const deadline = setTimeout(() => {
      settle(new Error(`the TLS handshake with the hub did not complete within ${this.connectTimeoutMs} ms`));
      socket.destroy();
    }, this.connectTimeoutMs);
    socket.once('secureConnect', () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      if (fingerprint && pins.trusts(fingerprint)) {
        this.open.set(socket, fingerprint);
        socket.once('close', () => this.open.delete(socket));
        return settle(null);
      }
      const error = new HubTrustError(`the hub's certificate (SHA-256 ${fingerprint ?? 'none'}) matches none of the pinned fingerprints (${pins.describe()}); refusing to talk to it`);
      settle(error);
      socket.destroy();
    });
    socket.once('error', (error) => settle(error));
  }
}
