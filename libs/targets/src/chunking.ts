import { entryHostCount, type TargetEntry, type TargetSpec } from './target-spec.model';

/**
 * Split a spec into chunks of at most `maxHosts` hosts, in order. A chunk holds one kind of entry
 * only (IPv4, IPv6 or host names) because nmap scans IPv6 in a separate -6 run and host names may
 * resolve to either family. IPv4 ranges are split where a chunk fills up.
 */
export function chunkTargets(spec: TargetSpec, maxHosts: number): TargetSpec[] {
  if (!Number.isSafeInteger(maxHosts) || maxHosts < 1) throw new RangeError('maxHosts must be a positive integer');
  const chunks: TargetSpec[] = [];
  let current: TargetEntry[] = [];
  let hosts = 0;
  const flush = (): void => {
    if (current.length > 0) chunks.push({ entries: current });
    current = [];
    hosts = 0;
  };
  for (const entry of spec.entries) {
    if (current.length > 0 && current[0].kind !== entry.kind) flush();
    if (entry.kind !== 'ipv4') {
      if (hosts + entryHostCount(entry) > maxHosts) flush();
      current.push(entry);
      hosts += 1;
      continue;
    }
    let from = entry.from;
    while (from <= entry.to) {
      if (hosts === maxHosts) flush();
      const to = Math.min(entry.to, from + (maxHosts - hosts) - 1);
      current.push({ kind: 'ipv4', from, to });
      hosts += to - from + 1;
      from = to + 1;
    }
  }
  flush();
  return chunks;
}
