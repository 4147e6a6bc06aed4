import fc from 'fast-check';
import { findInterval, insertInterval, mergeIntervals, subtractIntervals, type Interval } from './intervals';

const interval = fc
  .tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 8 }))
  .map(([from, len]): Interval => ({ from, to: from + len }));

const members = (list: readonly Interval[]): Set<number> =>
  new Set(list.flatMap(({ from, to }) => Array.from({ length: to - from + 1 }, (_, i) => from + i)));

describe('intervals', () => {
  it('merges overlapping and adjacent intervals', () => {
    expect(mergeIntervals([{ from: 5, to: 9 }, { from: 1, to: 3 }, { from: 4, to: 4 }, { from: 12, to: 13 }])).toEqual([
      { from: 1, to: 9 },
      { from: 12, to: 13 },
    ]);
  });

  it('subtract, insert and find agree with plain sets (property)', () => {
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 6 }), fc.array(interval, { maxLength: 6 }), (a, b) => {
        const ma = mergeIntervals(a);
        const mb = mergeIntervals(b);
        const expected = [...members(a)].filter((x) => !members(b).has(x));
        expect(members(subtractIntervals(ma, mb))).toEqual(new Set(expected));

        const running: Interval[] = [];
        let count = 0;
        for (const { from, to } of [...a, ...b]) count += insertInterval(running, from, to);
        expect(running).toEqual(mergeIntervals([...a, ...b]));
        expect(count).toBe(members([...a, ...b]).size);
        for (let x = 0; x <= 70; x++) expect(findInterval(ma, x) !== undefined).toBe(members(a).has(x));
      }),
      { numRuns: 200 },
    );
  });
});
