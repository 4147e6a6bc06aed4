import fc from 'fast-check';
import { toNmapTargets } from './nmap-targets';
import { parseTargetSpec } from './target-spec.parser';
import { countHosts, normalizeTargets, type TargetEntry } from './target-spec.model';

const FULL_RANGE = /^\d+\.\d+\.\d+\.\d+-\d+\.\d+\.\d+\.\d+$/;

/** Hosts an nmap target token stands for, read independently of the library's parser. */
function nmapTokenHosts(token: string): number {
  let m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(token);
  if (m) return 1;
  m = /^\d+\.\d+\.\d+\.(\d+)-(\d+)$/.exec(token);
  if (m) return Number(m[2]) - Number(m[1]) + 1;
  m = /^\d+\.\d+\.\d+\.\d+\/(\d+)$/.exec(token);
  if (m) return 2 ** (32 - Number(m[1]));
  return 1; // IPv6 address or host name
}

describe('toNmapTargets', () => {
  it('splits a range across /24 blocks into forms nmap reads', () => {
    expect(toNmapTargets(parseTargetSpec('127.0.0.1-127.0.1.5').entries)).toEqual(['127.0.0.1-255', '127.0.1.0-5']);
  });

  it('writes whole aligned blocks as CIDR and single addresses plainly', () => {
    const spec = parseTargetSpec('10.0.0.255-10.0.3.0 10.1.0.0/16 10.2.0.9', { maxHosts: 70000 });
    expect(toNmapTargets(spec.entries)).toEqual(['10.0.0.255', '10.0.1.0/24', '10.0.2.0/24', '10.0.3.0', '10.1.0.0/16', '10.2.0.9']);
  });

  it('passes IPv6 addresses and host names through', () => {
    expect(toNmapTargets(parseTargetSpec('::1 db.lan').entries)).toEqual(['::1', 'db.lan']);
  });

  it('never emits a full range and covers exactly the spec (property)', () => {
    const base = fc.integer({ min: 0, max: 0xffffffff - 2 ** 20 });
    const range = fc
      .tuple(base, fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 0, max: 5 }))
      .map(([from, size, alignBits]): TargetEntry => {
        const aligned = Math.floor(from / 2 ** (8 * (alignBits % 3))) * 2 ** (8 * (alignBits % 3));
        return { kind: 'ipv4', from: aligned, to: Math.min(0xffffffff, aligned + size) };
      });
    fc.assert(
      fc.property(fc.array(range, { minLength: 1, maxLength: 5 }), (entries) => {
        const spec = normalizeTargets(entries);
        const tokens = toNmapTargets(spec.entries);
        expect(tokens.filter((t) => FULL_RANGE.test(t))).toEqual([]);
        expect(tokens.reduce((sum, t) => sum + nmapTokenHosts(t), 0)).toBe(countHosts(spec));
        const reparsed = parseTargetSpec(tokens.join(' '), { maxHosts: Number.MAX_SAFE_INTEGER });
        expect(reparsed).toEqual(spec);
      }),
      { numRuns: 200 },
    );
  });
});
