import fc from 'fast-check';
import { ByteArena } from './byte-arena';

describe('ByteArena', () => {
  it('gives back every byte string it holds, across pages and after the caller reuses its buffer (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300_000 }), { maxLength: 12 }), (strings) => {
        const arena = new ByteArena();
        const scratch = new Uint8Array(300_000);
        const slots = strings.map((bytes) => {
          scratch.set(bytes);
          const slot = arena.add(scratch.subarray(0, bytes.length));
          scratch.fill(7);
          return slot;
        });
        slots.forEach((slot, i) => expect(Buffer.from(arena.get(slot)).equals(Buffer.from(strings[i]))).toBe(true));
        expect(arena.byteLength).toBe(strings.reduce((sum, s) => sum + s.length, 0));
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a slot it never gave or has let go of', () => {
    const arena = new ByteArena();
    const slot = arena.add(Uint8Array.from([1, 2, 3]));
    expect(() => arena.get(slot + 1)).toThrow(RangeError);
    arena.clear();
    expect(() => arena.get(slot)).toThrow(RangeError);
  });
});
