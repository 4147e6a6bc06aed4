export type SocketProtocol = 'tcp' | 'udp';

/** One socket accepting traffic on this host: a TCP listener or a bound, unconnected UDP socket. */
export interface ListeningSocket {
  protocol: SocketProtocol;
  /**
   * The local address, normalised: dotted IPv4, or lower-case compressed IPv6 without brackets
   * or zone; `0.0.0.0` / `::` for the wildcard; IPv4-mapped IPv6 reduced to its IPv4 address.
   */
  bindAddress: string;
  port: number;
  /** Program name as the tool shows it (`sshd`, `systemd-resolve`), where visible. */
  process?: string;
  pid?: number;
}

/** Order by protocol, then port, then bind address (plain string order). */
export function compareSockets(a: ListeningSocket, b: ListeningSocket): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  if (a.bindAddress === b.bindAddress) return 0;
  return a.bindAddress < b.bindAddress ? -1 : 1;
}

/** Of two entries for the same socket, the one with the lowest pid (any pid beats none). */
function preferred(kept: ListeningSocket, other: ListeningSocket): ListeningSocket {
  if (other.pid === undefined) return kept;
  if (kept.pid === undefined || other.pid < kept.pid) return other;
  return kept;
}

/**
 * One entry per protocol, bind address and port, sorted. Several lines can describe the same
 * address (SO_REUSEPORT workers, `*` and `0.0.0.0` both read as `0.0.0.0`); keeping the lowest
 * pid names the parent (nginx master, not whichever worker the tool listed first), so the
 * result does not change when workers restart.
 */
export function uniqueSortedSockets(sockets: readonly ListeningSocket[]): ListeningSocket[] {
  const byKey = new Map<string, ListeningSocket>();
  for (const socket of sockets) {
    const key = `${socket.protocol}/${socket.port}@${socket.bindAddress}`;
    const kept = byKey.get(key);
    byKey.set(key, kept === undefined ? socket : preferred(kept, socket));
  }
  return [...byKey.values()].sort(compareSockets);
}
