import { DomainError } from '@portolan/contracts/errors';
import type { PortRange, PortSet, ScanRequest } from './scan-request';

/** The fastest pace a scan may be limited to, in probes a second (a limit above it limits nothing). */
export const MAX_SCAN_RATE = 1_000_000;

/** How often nmap writes <taskprogress> into its XML (--stats-every). */
export const NMAP_STATS_EVERY = '2s';
export const NMAP_MAX_RETRIES = 2;

const MAX_TOKEN_LENGTH = 255;
/**
 * nmap target syntax needs letters, digits and . : - / , % _ (ranges, CIDR, IPv6 scopes).
 * nmap has no `--` to end options, so a token starting with '-' would be read as an option;
 * everything else (spaces, quotes, globs, $ ; | & < >) is refused outright.
 */
const SAFE_TOKEN = /^[A-Za-z0-9:][A-Za-z0-9.:\-/,%_]*$/;

export function assertSafeTargetToken(token: string): void {
  if (typeof token !== 'string' || token.length === 0) {
    throw new DomainError('invalid_target', 'A scan target is empty', { token });
  }
  if (token.startsWith('-')) {
    throw new DomainError('invalid_target', `Scan target "${token}" starts with '-' and would be read as an nmap option`, {
      token,
    });
  }
  if (token.length > MAX_TOKEN_LENGTH || !SAFE_TOKEN.test(token)) {
    throw new DomainError('invalid_target', `Scan target "${token}" contains characters nmap targets never need`, {
      token,
    });
  }
}

function formatRanges(protocol: string, ranges: PortRange[]): string {
  return ranges
    .map((range) => {
      const { from, to } = range;
      const valid = Number.isInteger(from) && Number.isInteger(to) && from >= 1 && to <= 65535 && from <= to;
      if (!valid) {
        throw new DomainError('invalid_port_spec', `Invalid ${protocol} port range ${from}-${to}`, { protocol, from, to });
      }
      return from === to ? String(from) : `${from}-${to}`;
    })
    .join(',');
}

/** nmap -p value: 'T:22,80-90,U:53'. Throws when both protocols are empty. */
export function formatNmapPortSpec(ports: PortSet): string {
  const parts: string[] = [];
  if (ports.tcp.length > 0) parts.push(`T:${formatRanges('tcp', ports.tcp)}`);
  if (ports.udp.length > 0) parts.push(`U:${formatRanges('udp', ports.udp)}`);
  if (parts.length === 0) {
    throw new DomainError('invalid_port_spec', 'A scan needs at least one TCP or UDP port');
  }
  return parts.join(',');
}

export type NmapArgsRequest = Pick<
  ScanRequest,
  'targets' | 'ipv6' | 'ports' | 'tcpTechnique' | 'skipHostDiscovery' | 'hostTimeoutMs' | 'maxRate'
>;

/**
 * The argv (after the binary) for one nmap run. XML goes to stdout with progress every 2 s; no
 * reverse DNS; closed ports stay in the output (folded into <extraports>) so a diff can tell
 * "closed" from "not scanned". The result is passed to spawn(), never to a shell.
 */
export function buildNmapArgs(request: NmapArgsRequest): string[] {
  if (request.targets.length === 0) {
    throw new DomainError('invalid_target', 'A scan needs at least one target');
  }
  request.targets.forEach(assertSafeTargetToken);
  const portSpec = formatNmapPortSpec(request.ports);

  const args = ['-oX', '-', '--stats-every', NMAP_STATS_EVERY, '-n', '--max-retries', String(NMAP_MAX_RETRIES)];
  if (request.ports.tcp.length > 0) args.push(request.tcpTechnique === 'syn' ? '-sS' : '-sT');
  if (request.ports.udp.length > 0) args.push('-sU');
  args.push('-p', portSpec);
  if (request.ipv6) args.push('-6');
  if (request.skipHostDiscovery) args.push('-Pn');
  if (request.hostTimeoutMs !== undefined) {
    if (!Number.isFinite(request.hostTimeoutMs) || request.hostTimeoutMs <= 0) {
      throw new DomainError('invalid_payload', `hostTimeoutMs must be a positive number, got ${request.hostTimeoutMs}`);
    }
    args.push('--host-timeout', `${Math.ceil(request.hostTimeoutMs)}ms`);
  }
  args.push(...maxRateArgs(request.maxRate));
  args.push(...request.targets);
  return args;
}

/** A scan's probes a second: a finite number above 0 and at most MAX_SCAN_RATE, else a clear error. */
export function assertScanRate(maxRate: number): number {
  if (typeof maxRate !== 'number' || !Number.isFinite(maxRate) || maxRate <= 0 || maxRate > MAX_SCAN_RATE) {
    throw new DomainError('invalid_payload', `maxRate must be a number of probes a second above 0 and at most ${MAX_SCAN_RATE}, got ${maxRate}`, { field: 'maxRate' });
  }
  return maxRate;
}

/** `--max-rate N` for a paced scan (checked), nothing for one at the engine's own pace. */
export function maxRateArgs(maxRate: number | undefined): string[] {
  return maxRate === undefined ? [] : ['--max-rate', String(assertScanRate(maxRate))];
}

/** A scan's whole-run timeout: its budget's base, an allowance per probe, and the time its pace needs (`pacedScanMs`). */
export function scanTimeoutMs(budget: { readonly baseMs: number; readonly perProbeMs: number }, probes: number, hosts: number, maxRate: number | null | undefined): number {
  return Math.round(budget.baseMs + probes * budget.perProbeMs + pacedScanMs(probes, hosts, maxRate));
}

/** Probes nmap may send to find out whether a host is up before scanning it (as root: ICMP echo and timestamp, SYN to 443, ACK to 80). */
const DISCOVERY_PROBES_PER_HOST = 4;

/**
 * The least time a scan paced at `maxRate` probes a second can take, in ms: each probe of each
 * host and each discovery probe, every one sent up to 1 + NMAP_MAX_RETRIES times (a filtered
 * network answers none). A scan's timeout adds it to its usual budget, so a slow pace asked for
 * is never cut off as a hung scan. 0 when the scan is not paced.
 */
export function pacedScanMs(probes: number, hosts: number, maxRate: number | null | undefined): number {
  if (maxRate === null || maxRate === undefined) return 0;
  return Math.ceil((sendsAtMost(probes, hosts) / assertScanRate(maxRate)) * 1000);
}

/** The longest one paced nmap may be planned to take (`pacedScanMs`): a slower pace for what it scans is refused. */
export const MAX_PACED_SCAN_MS = 7 * 24 * 3_600_000;

/** The slowest pace, in probes a second, at which one nmap scans `probes` over `hosts` within MAX_PACED_SCAN_MS. */
export function slowestScanRate(probes: number, hosts: number): number {
  return sendsAtMost(probes, hosts) / (MAX_PACED_SCAN_MS / 1000);
}

function sendsAtMost(probes: number, hosts: number): number {
  return (probes + hosts * DISCOVERY_PROBES_PER_HOST) * (1 + NMAP_MAX_RETRIES);
}
