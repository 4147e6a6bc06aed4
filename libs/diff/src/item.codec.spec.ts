import fc from 'fast-check';
import type { AttributeValue, Item } from './item';
import { ItemCodec } from './item.codec';
import { portItem } from './port-item';

const value: fc.Arbitrary<AttributeValue | undefined> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }), // any UTF-16 code unit, unpaired surrogates included
  fc.string({ unit: fc.constantFrom('a', 'ÿ', 'Ā', ':', ';', 's', '0', '.'), maxLength: 6 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
const itemArb: fc.Arbitrary<Item> = fc.record({
  type: fc.constantFrom('port', 'registry-value', 'ÿtype'),
  host: fc.constant('h'),
  key: fc.string({ unit: 'binary', maxLength: 6 }),
  attributes: fc.dictionary(fc.constantFrom('a', 'b', 'port', 'ÿ', '0'), value, { maxKeys: 4 }) as fc.Arbitrary<Record<string, AttributeValue>>,
});
/** -0 is stored as 0 (a port, a count: nothing tells them apart). */
const normalized = (items: Item[]): Item[] =>
  items.map((item) => ({ ...item, attributes: Object.fromEntries(Object.entries(item.attributes).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])) }));

describe('ItemCodec', () => {
  it('gives back exactly the items it encoded, whatever their attributes (property)', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 8 }), (items) => {
        const codec = new ItemCodec();
        const bytes = Uint8Array.from(codec.encode(items));
        expect(codec.decode('h', bytes)).toEqual(normalized(items));
        expect(codec.matches(bytes, items)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('matches an encoding only to the same items (property)', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 5 }), fc.array(itemArb, { maxLength: 5 }), (a, b) => {
        const codec = new ItemCodec();
        const bytesA = Uint8Array.from(codec.encode(a));
        const bytesB = Uint8Array.from(codec.encode(b));
        expect(codec.matches(bytesA, b)).toBe(Buffer.compare(bytesA, bytesB) === 0);
      }),
      { numRuns: 500 },
    );
  });

  it('tells a changed version or one more port from the stored ones', () => {
    const codec = new ItemCodec();
    const ssh = portItem('h', { protocol: 'tcp', port: 22, state: 'open', service: 'ssh', version: '9.2' });
    const stored = Uint8Array.from(codec.encode([ssh]));
    expect(codec.matches(stored, [ssh])).toBe(true);
    expect(codec.matches(stored, [{ ...ssh, attributes: { ...ssh.attributes, version: '9.3' } }])).toBe(false);
    expect(codec.matches(stored, [ssh, portItem('h', { protocol: 'tcp', port: 80, state: 'open' })])).toBe(false);
    expect(codec.matches(stored, [])).toBe(false);
  });

  it('stores a port item in a few dozen bytes', () => {
    const codec = new ItemCodec();
    const bytes = codec.encode([portItem('10.0.0.1', { protocol: 'tcp', port: 443, state: 'open', service: 'http', product: 'nginx', version: '1.22.1' })]);
    expect(bytes.length).toBeLessThan(60);
  });
});
