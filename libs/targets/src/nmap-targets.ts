import { ipv4ToString } from './ipv4';
import type { TargetEntry } from './target-spec.model';

const BLOCK = 256;

/** Largest aligned block (256 or more addresses) that starts at `from` and ends by `to`. */
function largestAlignedBlock(from: number, to: number): number {
  let size = BLOCK;
  while (size < 2 ** 32 && from % (size * 2) === 0 && from + size * 2 - 1 <= to) size *= 2;
  return size;
}

function ipv4Tokens(from: number, to: number): string[] {
  const tokens: string[] = [];
  let cursor = from;
  while (cursor <= to) {
    const blockEnd = Math.floor(cursor / BLOCK) * BLOCK + BLOCK - 1;
    if (cursor % BLOCK === 0 && blockEnd <= to) {
      const size = largestAlignedBlock(cursor, to);
      tokens.push(`${ipv4ToString(cursor)}/${32 - Math.log2(size)}`);
      cursor += size;
      continue;
    }
    const end = Math.min(to, blockEnd);
    tokens.push(cursor === end ? ipv4ToString(cursor) : `${ipv4ToString(cursor)}-${end % BLOCK}`);
    cursor = end + 1;
  }
  return tokens;
}

/**
 * Target arguments nmap understands. nmap reads `10.0.0.250-10.0.1.5` as a host name and silently
 * scans nothing, so IPv4 ranges are cut at /24 boundaries: whole aligned blocks become CIDR
 * (`10.0.0.0/24`, `10.0.0.0/16`), the rest last-octet ranges (`10.0.1.0-5`) or single addresses.
 * IPv6 addresses and host names pass through; IPv6 needs nmap -6, so keep families apart (see
 * chunkTargets).
 */
export function toNmapTargets(entries: readonly TargetEntry[]): string[] {
  return entries.flatMap((entry) => {
    if (entry.kind === 'ipv4') return ipv4Tokens(entry.from, entry.to);
    return [entry.kind === 'ipv6' ? entry.address : entry.name];
  });
}
