import { mergeIntervals } from './intervals';
import { ipv6ToString, parseIpv6 } from './ipv6';

/** One normalised piece of a target spec. */
export type TargetEntry =
  /** Inclusive range of unsigned 32-bit addresses, from <= to. */
  | { kind: 'ipv4'; from: number; to: number }
  /** One host, canonical RFC 5952 text (small CIDRs are expanded). */
  | { kind: 'ipv6'; address: string }
  /** An unresolved host name, lower-cased. */
  | { kind: 'hostname'; name: string };

/**
 * A normalised target spec: IPv4 ranges first (sorted, merged, adjacent ranges joined), then IPv6
 * addresses (numeric order), then host names (alphabetical); no duplicates. Two specs that select
 * the same targets have equal entries.
 */
export interface TargetSpec {
  entries: TargetEntry[];
}

/** Default cap on hosts selected by one spec (a /16). */
export const DEFAULT_MAX_HOSTS = 65536;

/** Normalise entries in any order (possibly overlapping, duplicated) into a TargetSpec. */
export function normalizeTargets(entries: readonly TargetEntry[]): TargetSpec {
  const v4: { from: number; to: number }[] = [];
  const v6 = new Map<bigint, string>();
  const names = new Set<string>();
  for (const entry of entries) {
    if (entry.kind === 'ipv4') {
      v4.push({ from: entry.from, to: entry.to });
    } else if (entry.kind === 'ipv6') {
      const parsed = parseIpv6(entry.address);
      if (!parsed.ok) throw new RangeError(`not an IPv6 address: ${entry.address}`);
      v6.set(parsed.value, ipv6ToString(parsed.value));
    } else {
      names.add(entry.name.toLowerCase());
    }
  }
  const v6Sorted = [...v6.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    entries: [
      ...mergeIntervals(v4).map(({ from, to }): TargetEntry => ({ kind: 'ipv4', from, to })),
      ...v6Sorted.map(([, address]): TargetEntry => ({ kind: 'ipv6', address })),
      ...[...names].sort().map((name): TargetEntry => ({ kind: 'hostname', name })),
    ],
  };
}

/** Hosts an entry stands for; an unresolved host name counts as one. */
export function entryHostCount(entry: TargetEntry): number {
  return entry.kind === 'ipv4' ? entry.to - entry.from + 1 : 1;
}

/** Number of hosts a spec selects (each unresolved host name counts as one). */
export function countHosts(spec: TargetSpec): number {
  return spec.entries.reduce((sum, entry) => sum + entryHostCount(entry), 0);
}
