/**
 * What a scan engine is asked to do. These shapes mirror the output of @portolan/targets (which
 * normalises user input into nmap target tokens and merged port ranges); they are declared here
 * so this library depends on nothing but contracts, and are fed from targets by the caller.
 */
export type Protocol = 'tcp' | 'udp';

/** Inclusive port range. */
export interface PortRange {
  from: number;
  to: number;
}

/** Ports per protocol, each list sorted and merged. */
export interface PortSet {
  tcp: PortRange[];
  udp: PortRange[];
}

export type TcpTechnique = 'connect' | 'syn';

export interface ScanRequest {
  /** Already-normalised nmap target tokens ('127.0.0.1-20', '::1'); only safety-checked here. */
  targets: string[];
  /** Scan IPv6 targets (nmap -6). */
  ipv6: boolean;
  ports: PortSet;
  /** connect = -sT (no privileges), syn = -sS (root or CAP_NET_RAW). */
  tcpTechnique: TcpTechnique;
  /** Treat every target as up (nmap -Pn). */
  skipHostDiscovery?: boolean;
  /** Whole-run timeout; the scan is stopped and rejected when it elapses. */
  timeoutMs: number;
  /** Give up on a single host after this long (nmap --host-timeout). */
  hostTimeoutMs?: number;
  /**
   * At most this many probes a second (nmap --max-rate; the connect scanner paces its connects
   * alike), for links and devices a full-speed scan would hurt. Unset: the engine's own pace.
   */
  maxRate?: number;
  signal?: AbortSignal;
}
