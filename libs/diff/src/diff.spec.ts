import fc from 'fast-check';
import { diffItems } from './diff';
import { Item, itemId } from './item';
import { portItem, portItemsFromHosts } from './port-item';

const open = (host: string, port: number, service = 'http'): Item =>
  portItem(host, { protocol: 'tcp', port, state: 'open', service });

describe('diffItems', () => {
  it('reports an opened port as added and a closed one as removed', () => {
    const result = diffItems([open('127.0.0.2', 40001), open('127.0.0.2', 40002)], [open('127.0.0.2', 40001), open('127.0.0.2', 40003)]);
    expect(result.added.map((i) => i.key)).toEqual(['tcp/40003']);
    expect(result.removed.map((i) => i.key)).toEqual(['tcp/40002']);
    expect(result.modified).toEqual([]);
    expect(result.unchanged).toBe(1);
  });

  it('reports a changed service as modified, naming the attribute', () => {
    const result = diffItems([open('h', 22, 'ssh')], [open('h', 22, 'telnet')]);
    expect(result.modified).toHaveLength(1);
    expect(result.modified[0].changed).toEqual(['service']);
    expect(result.modified[0].before.attributes['service']).toBe('ssh');
  });

  it('never removes what the observation did not cover', () => {
    const covers = (item: Item) => item.host !== 'down-host' && Number(item.attributes['port']) <= 100;
    const baseline = [open('down-host', 22), open('up-host', 22), open('up-host', 8080)];
    const result = diffItems(baseline, [], covers);
    expect(result.removed.map((i) => `${i.host} ${i.key}`)).toEqual(['up-host tcp/22']);
  });

  it('ignores observed items outside the coverage', () => {
    const result = diffItems([], [open('h', 9999)], (item) => item.attributes['port'] !== 9999);
    expect(result.added).toEqual([]);
  });

  it('compares every attribute of an unregistered item type', () => {
    const reg = (value: string): Item => ({ type: 'registry-value', host: 'h', key: 'HKLM\\X', attributes: { value } });
    expect(diffItems([reg('a')], [reg('b')]).modified[0].changed).toEqual(['value']);
  });

  const itemArb = fc
    .record({ host: fc.constantFrom('a', 'b', 'c'), port: fc.integer({ min: 1, max: 40 }), service: fc.constantFrom('x', 'y') })
    .map(({ host, port, service }) => open(host, port, service));

  const uniqueItems = fc.uniqueArray(itemArb, { selector: itemId, maxLength: 60 });

  it('property: baseline + diff reproduces the observation (within coverage)', () => {
    fc.assert(
      fc.property(uniqueItems, uniqueItems, fc.integer({ min: 1, max: 40 }), (base, obs, limit) => {
        const covers = (item: Item) => Number(item.attributes['port']) <= limit;
        const uniqueBase = base;
        const result = diffItems(uniqueBase, obs, covers);
        const state = new Map(uniqueBase.filter(covers).map((i) => [itemId(i), i]));
        for (const i of result.removed) state.delete(itemId(i));
        for (const i of result.added) state.set(itemId(i), i);
        for (const m of result.modified) state.set(itemId(m.after), m.after);
        const expected = new Map(obs.filter(covers).map((i) => [itemId(i), i]));
        expect([...state.keys()].sort()).toEqual([...expected.keys()].sort());
        for (const [id, item] of state) expect(item.attributes['service']).toBe(expected.get(id)?.attributes['service']);
        expect(result.added.length + result.modified.length + result.unchanged).toBe(expected.size);
      }),
      { numRuns: 200 },
    );
  });

  it('property: diffing an observation against itself finds nothing', () => {
    fc.assert(
      fc.property(uniqueItems, (items) => {
        const result = diffItems(items, items);
        expect(result.added.length + result.removed.length + result.modified.length).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('portItemsFromHosts', () => {
  it('keeps open ports of hosts that were up and nothing of hosts that were down', () => {
    const items = portItemsFromHosts([
      { address: '127.0.0.2', state: 'up', ports: [{ protocol: 'tcp', port: 1, state: 'open' }, { protocol: 'tcp', port: 2, state: 'closed' }] },
      { address: '127.0.0.3', state: 'down', ports: [{ protocol: 'tcp', port: 1, state: 'open' }] },
    ]);
    expect(items.map((i) => `${i.host} ${i.key}`)).toEqual(['127.0.0.2 tcp/1']);
  });
});
