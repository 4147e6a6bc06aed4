import { AgentTracker } from '@portolan/contracts';
import { LocalSchedule } from './local.schedule';

const tracker = (id: string, schedule: AgentTracker['schedule']): AgentTracker => ({
  id,
  name: id,
  mode: 'self',
  deviceId: '00000000-0000-4000-8000-000000000000',
  ports: { tcp: [{ from: 1, to: 100 }], udp: [] },
  schedule,
});

describe('LocalSchedule', () => {
  const t0 = new Date('2026-11-22T10:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);

  it('runs at-agent-startup trackers once, on the first configuration only', () => {
    const schedule = new LocalSchedule();
    const startup = tracker('startup', { kind: 'at-agent-startup' });
    schedule.update([startup], t0);
    expect(schedule.takeDue([startup], t0).map((t) => t.id)).toEqual(['startup']);
    expect(schedule.takeDue([startup], at(3600))).toEqual([]);
    const later = tracker('later', { kind: 'at-agent-startup' });
    schedule.update([startup, later], at(10));
    expect(schedule.takeDue([startup, later], at(20))).toEqual([]);
  });

  it('runs interval trackers now and then every interval, skipping missed runs', () => {
    const schedule = new LocalSchedule();
    const every = tracker('every', { kind: 'interval', every: '30s' });
    schedule.update([every], t0);
    expect(schedule.takeDue([every], t0)).toHaveLength(1);
    expect(schedule.takeDue([every], at(29))).toHaveLength(0);
    expect(schedule.takeDue([every], at(30))).toHaveLength(1);
    expect(schedule.takeDue([every], at(200))).toHaveLength(1);
    expect(schedule.msUntilNext(at(200), 60_000)).toBe(10_000);
  });

  it('keeps a tracker\'s next run across configuration updates and forgets removed ones', () => {
    const schedule = new LocalSchedule();
    const cron = tracker('cron', { kind: 'cron', cron: '*/5 * * * *' });
    schedule.update([cron], t0);
    expect(schedule.takeDue([cron], at(1))).toHaveLength(0);
    schedule.update([cron], at(2));
    expect(schedule.takeDue([cron], at(300))).toHaveLength(1);
    schedule.update([], at(301));
    expect(schedule.msUntilNext(at(301), 5000)).toBe(5000);
  });

  it('gives a tracker that comes back on the same schedule its place, not a run at once; a new schedule starts afresh', () => {
    const schedule = new LocalSchedule();
    const hourly = tracker('hourly', { kind: 'interval', every: '1h' });
    schedule.update([hourly], t0);
    expect(schedule.takeDue([hourly], t0)).toHaveLength(1);
    // Left out of one configuration (its address did not resolve), given again five minutes on.
    schedule.update([], at(60));
    schedule.update([hourly], at(360));
    expect(schedule.takeDue([hourly], at(360))).toHaveLength(0);
    expect(schedule.takeDue([hourly], at(3600))).toHaveLength(1);
    // Back on another schedule: that schedule's first run (an interval: now).
    schedule.update([], at(3700));
    const halfHourly = tracker('hourly', { kind: 'interval', every: '30m' });
    schedule.update([halfHourly], at(3800));
    expect(schedule.takeDue([halfHourly], at(3800))).toHaveLength(1);
  });

  it('remembers a bounded number of dropped trackers', () => {
    const schedule = new LocalSchedule(2);
    const [a, b, c] = ['a', 'b', 'c'].map((id) => tracker(id, { kind: 'interval', every: '1h' }));
    schedule.update([a, b, c], t0);
    expect(schedule.takeDue([a, b, c], t0)).toHaveLength(3);
    schedule.update([], at(60));
    schedule.update([a, b, c], at(120));
    // The first dropped was forgotten: it runs at once; the other two keep their place.
    expect(schedule.takeDue([a, b, c], at(120)).map((t) => t.id)).toEqual(['a']);
  });
});
