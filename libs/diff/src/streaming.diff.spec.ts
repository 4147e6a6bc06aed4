import fc from 'fast-check';
import { diffItems } from './diff';
import type { Modification } from './diff';
import type { Item } from './item';
import { itemId } from './item';
import { portItem } from './port-item';
import { StreamingItemDiff } from './streaming.diff';

const itemArb: fc.Arbitrary<Item> = fc.oneof(
  fc
    .record({ host: fc.constantFrom('a', 'b', 'c', 'd'), port: fc.integer({ min: 1, max: 12 }), service: fc.constantFrom('x', 'y', undefined), version: fc.constantFrom('1', '2', undefined) })
    .map(({ host, port, service, version }) => portItem(host, { protocol: 'tcp', port, state: 'open', service, version })),
  fc
    .record({ host: fc.constantFrom('a', 'b'), key: fc.constantFrom('HKLM\\\\X', 'HKLM\\\\Y'), value: fc.constantFrom('1', '2'), note: fc.constantFrom('n', 'm') })
    .map(({ host, key, value, note }): Item => ({ type: 'registry-value', host, key, attributes: { value, note } })),
);

/** Items fed host by host (runs of one host, a host may come back later), as readers do. */
const batches = fc.array(itemArb, { maxLength: 40 }).chain((items) =>
  fc.array(fc.nat(items.length), { maxLength: 6 }).map((cuts) => {
    const at = [0, ...[...new Set(cuts)].sort((x, y) => x - y), items.length];
    return { items, batches: at.slice(1).map((end, i) => items.slice(at[i], end)) };
  }),
);

const byId = (items: readonly Item[]): Item[] => [...items].sort((x, y) => itemId(x).localeCompare(itemId(y)));
const changes = (list: readonly Modification[]): string[] => list.map((m) => `${itemId(m.after)} ${m.changed.join(',')}`);

function streamed(baseline: Item[][], observed: Item[][], covers?: (item: Item) => boolean) {
  const added: Item[] = [];
  const removed: Item[] = [];
  const modified: Modification[] = [];
  const diff = new StreamingItemDiff({ onAdded: (i) => added.push(i), onRemoved: (i) => removed.push(i), onModified: (m) => modified.push(m) }, covers);
  baseline.forEach((batch) => diff.addBaseline(batch));
  observed.forEach((batch) => diff.addObserved(batch));
  return { added, removed, modified, counts: diff.finish() };
}

describe('StreamingItemDiff', () => {
  it('reports what diffItems reports, however the items are batched (property)', () => {
    fc.assert(
      fc.property(batches, batches, fc.integer({ min: 0, max: 13 }), (base, obs, limit) => {
        const covers = (item: Item): boolean => item.type !== 'port' || Number(item.attributes['port']) <= limit;
        const expected = diffItems(base.items, obs.items, covers);
        const actual = streamed(base.batches, obs.batches, covers);
        // Within one call, items are taken host by host, so the order can differ from diffItems'.
        expect(byId(actual.added)).toEqual(byId(expected.added));
        expect(changes(actual.modified).sort()).toEqual(changes(expected.modified).sort());
        expect(byId(actual.modified.map((m) => m.before))).toEqual(byId(expected.modified.map((m) => m.before)));
        expect(byId(actual.removed)).toEqual(byId(expected.removed));
        expect(actual.counts).toEqual({
          added: expected.added.length,
          removed: expected.removed.length,
          modified: expected.modified.length,
          unchanged: expected.unchanged,
        });
      }),
      { numRuns: 500 },
    );
  });

  it('reports changes in the order the observation brings them, when items come host by host', () => {
    const port = (host: string, number: number, service: string): Item => portItem(host, { protocol: 'tcp', port: number, state: 'open', service });
    const baseline = [[port('a', 1, 'x'), port('a', 2, 'x')], [port('b', 1, 'x')]];
    const observed = [[port('b', 3, 'x'), port('b', 1, 'y')], [port('a', 2, 'y'), port('a', 4, 'x')]];
    const { added, modified } = streamed(baseline, observed);
    const expected = diffItems(baseline.flat(), observed.flat());
    expect(added).toEqual(expected.added);
    expect(changes(modified)).toEqual(changes(expected.modified));
  });

  it('reports nothing for an observation identical to the baseline', () => {
    const items = [portItem('h', { protocol: 'tcp', port: 22, state: 'open', service: 'ssh' }), portItem('h', { protocol: 'udp', port: 53, state: 'open' })];
    const { added, removed, modified, counts } = streamed([items], [items.map((i) => ({ ...i }))]);
    expect([added, removed, modified]).toEqual([[], [], []]);
    expect(counts.unchanged).toBe(2);
  });

  it('reports a host that was not observed at all as removed, at finish()', () => {
    const gone = portItem('gone', { protocol: 'tcp', port: 80, state: 'open' });
    const removed: Item[] = [];
    const diff = new StreamingItemDiff({ onRemoved: (i) => removed.push(i) });
    diff.addBaseline([gone]);
    diff.addObserved([]);
    expect(removed).toEqual([]);
    diff.finish();
    expect(removed).toEqual([gone]);
  });

  it('refuses baseline items after observed ones, and a second finish()', () => {
    const diff = new StreamingItemDiff();
    diff.addObserved([]);
    expect(() => diff.addBaseline([])).toThrow(/baseline items after observed/);
    diff.finish();
    expect(() => diff.finish()).toThrow(/twice/);
  });
});
