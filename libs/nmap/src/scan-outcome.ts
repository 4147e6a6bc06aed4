import type { Protocol, ScanRequest } from './scan-request';

/** The six port states nmap reports. */
export type PortState = 'open' | 'closed' | 'filtered' | 'unfiltered' | 'open|filtered' | 'closed|filtered';

export const PORT_STATES: readonly PortState[] = [
  'open',
  'closed',
  'filtered',
  'unfiltered',
  'open|filtered',
  'closed|filtered',
];

export interface PortObservation {
  protocol: Protocol;
  port: number;
  state: PortState;
  /** Why the engine concluded `state`: 'syn-ack', 'conn-refused', 'reset', 'no-response'... */
  reason?: string;
  service?: string;
  product?: string;
  version?: string;
}

export type HostState = 'up' | 'down' | 'unknown';

export interface HostObservation {
  /** The host's IP address (the first IPv4/IPv6 address nmap reported). */
  address: string;
  addresses: { addr: string; type: string }[];
  hostnames: string[];
  /**
   * 'unknown' means no probe got any answer: the ports listed are not evidence that anything
   * closed, and a comparer must not read an empty port list as "everything went away".
   */
  state: HostState;
  reason?: string;
  /** Ports the engine listed individually (nmap folds the bulk into extraports; never listed). */
  ports: PortObservation[];
}

export interface ScanProgress {
  /** 0-100 within the current task; nmap restarts it for each host group. */
  percent: number;
  task: string;
  remainingSeconds?: number;
  hostsDone: number;
}

/**
 * How far a scan of `hostCount` hosts has got, 0-99 (100 is said by its result): the larger of
 * the engine's percent (nmap's, within its current host group) and the share of hosts done.
 */
export function scanPercent(progress: Pick<ScanProgress, 'percent' | 'hostsDone'>, hostCount: number): number {
  return Math.min(99, Math.max(progress.percent, (progress.hostsDone / Math.max(1, hostCount)) * 100));
}

export type EngineName = 'nmap' | 'connect';

export interface ScanOutcome {
  engine: EngineName;
  engineVersion: string;
  /** The argument list given to the engine (for nmap, exactly the argv after the binary). */
  args: string[];
  hosts: HostObservation[];
  hostsUp: number;
  hostsDown: number;
  hostsTotal: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
}

export interface ScanEngine {
  readonly name: EngineName;
  scan(request: ScanRequest, onProgress?: (p: ScanProgress) => void): Promise<ScanOutcome>;
}
