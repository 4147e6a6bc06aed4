import { firstRunAt, nextRunAfter, parseInterval, validateSchedule } from './schedule.evaluator';

const t0 = new Date('2026-11-22T10:00:00Z');

describe('schedules', () => {
  it('parses intervals and rejects nonsense with the field named', () => {
    expect(parseInterval('15m')).toBe(900_000);
    expect(parseInterval(3600)).toBe(3_600_000);
    expect(() => parseInterval('soon')).toThrow(/schedule.every "soon"/);
    expect(() => parseInterval('1s')).toThrow(/minimum/);
  });

  it('runs an interval now, then every period, skipping missed runs', () => {
    const s = { kind: 'interval' as const, every: '1h' };
    expect(firstRunAt(s, t0)).toEqual(t0);
    expect(nextRunAfter(s, t0, new Date('2026-11-22T10:00:05Z'))).toEqual(new Date('2026-11-22T11:00:00Z'));
    expect(nextRunAfter(s, t0, new Date('2026-11-22T13:30:00Z'))).toEqual(new Date('2026-11-22T14:00:00Z'));
  });

  it('runs once only', () => {
    expect(firstRunAt({ kind: 'once' }, t0)).toEqual(t0);
    expect(nextRunAfter({ kind: 'once' }, t0, t0)).toBeNull();
  });

  it('follows cron in UTC and rejects bad expressions', () => {
    expect(firstRunAt({ kind: 'cron', cron: '30 2 * * *' }, t0)).toEqual(new Date('2026-11-23T02:30:00Z'));
    expect(() => validateSchedule({ kind: 'cron', cron: '61 * * * *' })).toThrow(/not a valid cron/);
    expect(() => validateSchedule({ kind: 'cron', cron: '* * *' })).toThrow(/5 fields/);
  });
});
