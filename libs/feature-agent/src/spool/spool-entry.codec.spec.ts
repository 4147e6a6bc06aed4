import fc from 'fast-check';
import { decodeEntry, encodeEntry, entryFileName, entryInputProblem, parseEntryFileName, type SpoolEntry } from './spool-entry.codec';

const entryArb: fc.Arbitrary<SpoolEntry> = fc.record({
  seq: fc.integer({ min: 1, max: 999_999_999_999 }),
  idempotencyKey: fc.string({ minLength: 1, maxLength: 64 }),
  createdAt: fc.date({ min: new Date(0), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  kind: fc.string({ minLength: 1, maxLength: 32 }),
  ref: fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined }),
  body: fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
});

describe('spool entry codec', () => {
  it('names sort lexically in seq order and parse back', () => {
    expect(entryFileName(42)).toBe('000000000042.entry');
    expect([entryFileName(10), entryFileName(9)].sort()).toEqual([entryFileName(9), entryFileName(10)]);
    expect(parseEntryFileName('000000000042.entry')).toBe(42);
    expect(parseEntryFileName('000000000042.entry.tmp')).toBeUndefined();
  });

  it('round-trips, and any flipped byte or truncation is reported, never decoded (property)', () => {
    fc.assert(
      fc.property(entryArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (entry, at, mask) => {
        const file = encodeEntry(entry);
        expect(decodeEntry(file, entry.seq)).toEqual({ ok: true, entry });

        const flipped = Buffer.from(file);
        flipped[at % file.length] ^= mask;
        expect(decodeEntry(flipped, entry.seq).ok).toBe(false);
        expect(decodeEntry(file.subarray(0, at % file.length), entry.seq).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('explains why an entry is rejected', () => {
    const entry = { seq: 7, idempotencyKey: 'k', createdAt: new Date().toISOString(), kind: 'scan', body: Buffer.from('x') };
    expect(decodeEntry(Buffer.from('PSPL'))).toEqual({ ok: false, reason: 'short file (4 bytes)' });
    expect(decodeEntry(Buffer.concat([Buffer.from('XXXXX'), encodeEntry(entry).subarray(5)]))).toMatchObject({ reason: 'bad magic' });
    expect(decodeEntry(encodeEntry(entry), 8)).toMatchObject({ reason: 'header seq 7 does not match file name seq 8' });
    expect(entryInputProblem({ ...entry, ref: '' })).toBe('ref must be a string of 1..256 characters when given');
    expect(entryInputProblem({ ...entry, ref: 42 })).toBe('ref must be a string of 1..256 characters when given');
    expect(entryInputProblem({ ...entry, ref: 'job-1' })).toBeUndefined();
  });

  it('reads entries written before refs (no ref in the header), and keeps a ref out of the header when none is given', () => {
    const entry = { seq: 3, idempotencyKey: 'k', createdAt: new Date().toISOString(), kind: 'scan', body: Buffer.from('x') };
    const decoded = decodeEntry(encodeEntry(entry), 3);
    expect(decoded).toEqual({ ok: true, entry });
    expect(encodeEntry(entry).includes('"ref"')).toBe(false);
    expect(decodeEntry(encodeEntry({ ...entry, ref: 'job-1' }), 3)).toEqual({ ok: true, entry: { ...entry, ref: 'job-1' } });
  });
});
