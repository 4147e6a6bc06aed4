import fc from 'fast-check';
import { chunkTargets } from './chunking';
import { parseTargetSpec } from './target-spec.parser';
import { countHosts, normalizeTargets } from './target-spec.model';
import { formatTargetSpec, listHosts } from './target-spec.format';
import { specCase } from './test/target-arbitraries';

describe('chunkTargets', () => {
  it('splits a range where a chunk fills up', () => {
    const chunks = chunkTargets(parseTargetSpec('10.0.0.1-10 10.0.0.20'), 4);
    expect(chunks.map(formatTargetSpec)).toEqual(['10.0.0.1-4', '10.0.0.5-8', '10.0.0.9-10 10.0.0.20']);
  });

  it('never mixes IPv4, IPv6 and host names in one chunk', () => {
    const chunks = chunkTargets(parseTargetSpec('10.0.0.1 ::1 ::2 db.lan'), 10);
    expect(chunks.map(formatTargetSpec)).toEqual(['10.0.0.1', '::1 ::2', 'db.lan']);
  });

  it('returns no chunks for an empty spec and rejects a non-positive size', () => {
    expect(chunkTargets({ entries: [] }, 5)).toEqual([]);
    expect(() => chunkTargets(parseTargetSpec('::1'), 0)).toThrow(RangeError);
  });

  it('keeps order and hosts, fills chunks up to the limit (property)', () => {
    fc.assert(
      fc.property(specCase, fc.integer({ min: 1, max: 300 }), ({ text }, maxHosts) => {
        const spec = parseTargetSpec(text);
        const chunks = chunkTargets(spec, maxHosts);
        for (const chunk of chunks) {
          expect(countHosts(chunk)).toBeGreaterThan(0);
          expect(countHosts(chunk)).toBeLessThanOrEqual(maxHosts);
          expect(new Set(chunk.entries.map((e) => e.kind)).size).toBe(1);
          expect(normalizeTargets(chunk.entries)).toEqual(chunk);
        }
        expect(chunks.reduce((sum, c) => sum + countHosts(c), 0)).toBe(countHosts(spec));
        expect(chunks.flatMap((c) => listHosts(c))).toEqual(listHosts(spec));
        expect(normalizeTargets(chunks.flatMap((c) => c.entries))).toEqual(spec);
        // Only the last chunk of each kind may be partly filled.
        chunks.forEach((chunk, i) => {
          const next = chunks[i + 1];
          if (next !== undefined && next.entries[0].kind === chunk.entries[0].kind) {
            expect(countHosts(chunk)).toBe(maxHosts);
          }
        });
      }),
      { numRuns: 150 },
    );
  });
});
