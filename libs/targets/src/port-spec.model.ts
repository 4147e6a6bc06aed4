export type Protocol = 'tcp' | 'udp';

/** Inclusive port range within 1..65535. */
export interface PortRange {
  from: number;
  to: number;
}

/** Ports per protocol; each list sorted, merged and non-overlapping. */
export interface PortSet {
  tcp: PortRange[];
  udp: PortRange[];
}

/** One line of a port configuration: a port list for one or both protocols, added or removed. */
export interface PortRule {
  /** A port list such as `22,80,8000-8100` (see parsePortList). */
  range: string;
  protocol: 'tcp' | 'udp' | 'both';
  /** Remove these ports from what the include rules select. */
  exclude?: boolean;
}

export const MIN_PORT = 1;
export const MAX_PORT = 65535;
