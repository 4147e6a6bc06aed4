import { staffWords } from './worker.registry';

describe('staffWords', () => {
  it("names the workers online for a chunk's site (its own, and those serving every site), one or many, and their busy slots", () => {
    expect(staffWords('scanner', 'hq', { online: 0, slots: 0, busy: 0 })).toBe('no scanner worker is online at site "hq"');
    expect(staffWords('collector', 'hq', { online: 0, slots: 0, busy: 0 })).toBe('no collector is online at site "hq"');
    expect(staffWords('scanner', 'hq', { online: 1, slots: 1, busy: 1 })).toBe('1 scanner worker is online at site "hq", 1 of 1 slot busy');
    expect(staffWords('scanner', 'hq', { online: 3, slots: 6, busy: 2 }, true)).toBe('3 scanner workers that pace are online at site "hq", 2 of 6 slots busy');
    expect(staffWords('collector', 'hq', { online: 2, slots: 8, busy: 0 })).toBe('2 collectors are online at site "hq", 0 of 8 slots busy');
  });
});
