import { ipv4RangeAsPrefix, ipv4ToString } from './ipv4';
import type { TargetEntry, TargetSpec } from './target-spec.model';

/**
 * Canonical text of one IPv4 range, in a form parseTargetSpec reads back: `a.b.c.d`, an aligned
 * block of 256 or more as CIDR (`10.0.0.0/16`), `a.b.c.x-y` within one /24, otherwise `a-b`.
 */
export function formatIpv4Range(from: number, to: number): string {
  if (from === to) return ipv4ToString(from);
  const prefix = ipv4RangeAsPrefix(from, to);
  if (prefix !== undefined && prefix <= 24) return `${ipv4ToString(from)}/${prefix}`;
  if (Math.floor(from / 256) === Math.floor(to / 256)) return `${ipv4ToString(from)}-${to % 256}`;
  return `${ipv4ToString(from)}-${ipv4ToString(to)}`;
}

function formatEntry(entry: TargetEntry): string {
  if (entry.kind === 'ipv4') return formatIpv4Range(entry.from, entry.to);
  return entry.kind === 'ipv6' ? entry.address : entry.name;
}

/** Canonical, space-separated text of a spec, e.g. `127.0.0.1-20 127.0.1.5 ::1 db.internal`. */
export function formatTargetSpec(spec: TargetSpec): string {
  return spec.entries.map(formatEntry).join(' ');
}

/** The spec's hosts as text (addresses, and host names as given), in order, at most `limit`. */
export function listHosts(spec: TargetSpec, limit = Number.POSITIVE_INFINITY): string[] {
  if (!(limit >= 0)) throw new RangeError('limit must not be negative');
  const hosts: string[] = [];
  for (const entry of spec.entries) {
    if (entry.kind === 'ipv4') {
      for (let a = entry.from; a <= entry.to && hosts.length < limit; a++) hosts.push(ipv4ToString(a));
    } else if (hosts.length < limit) {
      hosts.push(formatEntry(entry));
    }
    if (hosts.length >= limit) break;
  }
  return hosts;
}
