import { judgePresence, REPLACED_GRACE_MS, RESTARTS_REPORTED_EVERY_MS, WorkerStanding } from './presence.judge';

const OFFLINE_AFTER_MS = 60_000;
const t0 = Date.parse('2026-12-07T10:00:00.000Z');
const at = (seconds: number) => new Date(t0 + seconds * 1000);

/** A name whose process started at 0 s, first heard at 1 s, last at `lastSeen` s. */
function standing(extra: Partial<WorkerStanding> = {}, lastSeen = 100): WorkerStanding {
  return { status: 'online', startedAt: at(0), startedSeenAt: at(1), lastSeenAt: at(lastSeen), restarts: 0, restartReportedAt: null, conflictSeenAt: null, ...extra };
}

const judge = (was: WorkerStanding | undefined, startedAt: number, now: number, stopping = false) => judgePresence(was, { startedAt: at(startedAt), stopping }, at(now), OFFLINE_AFTER_MS);

describe('judgePresence', () => {
  it('writes the first word of a name, and every word of the same process', () => {
    expect(judge(undefined, 0, 1)).toEqual({ take: 'row', process: 'first', restarts: 0, restartReportedAt: null });
    expect(judge(standing(), 0, 110)).toEqual({ take: 'row', process: 'same', restarts: 0, restartReportedAt: null });
    expect(judge(standing(), 0, 110, true)).toEqual({ take: 'row', process: 'same', restarts: 0, restartReportedAt: null });
  });

  it('says worker-online when a process taken for gone speaks again, not when it says it stops', () => {
    expect(judge(standing({ status: 'offline' }), 0, 300)).toMatchObject({ take: 'row', process: 'same', say: 'worker-online' });
    expect(judge(standing({ status: 'offline' }), 0, 300, true)).not.toHaveProperty('say');
  });

  it('leaves a stopped process stopped when one of its beats comes after its last word', () => {
    expect(judge(standing({ status: 'stopped' }), 0, 101)).toEqual({ take: 'nothing' });
  });

  it('takes another process after a stop, or one that says it stops, without an event', () => {
    expect(judge(standing({ status: 'stopped' }), 200, 201)).toEqual({ take: 'row', process: 'replaced', restarts: 0, restartReportedAt: null });
    expect(judge(standing(), 200, 201, true)).toEqual({ take: 'row', process: 'replaced', restarts: 0, restartReportedAt: null });
  });

  it('says worker-online for another process after the last went offline', () => {
    expect(judge(standing({ status: 'offline' }), 500, 501)).toMatchObject({ take: 'row', process: 'replaced', say: 'worker-online' });
  });

  it('reports another process while the last was online, without its having said it stopped, as a restart; those in the next 15 minutes in the report after', () => {
    const first = judge(standing(), 105, 106);
    expect(first).toEqual({ take: 'row', process: 'replaced', say: { what: 'worker-restarted', report: 1, since: null }, restarts: 0, restartReportedAt: at(106) });
    // Crash-looping: counted, not said, until 15 minutes after the last report.
    const looping = standing({ startedAt: at(105), startedSeenAt: at(106), restartReportedAt: at(106), restarts: 0 }, 110);
    expect(judge(looping, 112, 113)).toEqual({ take: 'row', process: 'replaced', restarts: 1, restartReportedAt: at(106) });
    const later = standing({ startedAt: at(900), startedSeenAt: at(901), restartReportedAt: at(106), restarts: 7 }, 1000);
    const reportedAfter = 106 + RESTARTS_REPORTED_EVERY_MS / 1000;
    expect(judge(later, reportedAfter - 2, reportedAfter - 1)).toEqual({ take: 'row', process: 'replaced', restarts: 8, restartReportedAt: at(106) });
    expect(judge(standing({ ...later, lastSeenAt: at(reportedAfter - 10) }), reportedAfter, reportedAfter)).toEqual({
      take: 'row',
      process: 'replaced',
      say: { what: 'worker-restarted', report: 8, since: at(106) },
      restarts: 0,
      restartReportedAt: at(reportedAfter),
    });
  });

  it('reports a restart when the last process went silent but was not yet marked offline', () => {
    expect(judge(standing({}, 100), 150, 170)).toMatchObject({ say: { what: 'worker-restarted', report: 1 } });
  });

  it('takes an earlier-started process heard while the later one speaks as a second process under the name, after a grace for the one replaced', () => {
    const replaced = standing({ startedAt: at(200), startedSeenAt: at(201) }, 210);
    // The process it replaced, heard within the grace (its last beat in flight, a rolling restart): nothing.
    expect(judge(replaced, 0, 201 + REPLACED_GRACE_MS / 1000 - 1)).toEqual({ take: 'nothing' });
    // Still heard after it: a conflict, said once while it lasts.
    const after = 201 + REPLACED_GRACE_MS / 1000;
    expect(judge(standing({ ...replaced, lastSeenAt: at(after - 5) }), 0, after)).toEqual({ take: 'conflict', say: true });
    expect(judge(standing({ ...replaced, lastSeenAt: at(after - 5), conflictSeenAt: at(after - 15) }), 0, after)).toEqual({ take: 'conflict', say: false });
    // A conflict last heard a threshold ago is over: a new one is said again.
    expect(judge(standing({ ...replaced, lastSeenAt: at(after + 55), conflictSeenAt: at(after - 10) }), 0, after + 60)).toEqual({ take: 'conflict', say: true });
    // The earlier one says it stops: the conflict is over.
    expect(judge(standing({ ...replaced, lastSeenAt: at(after - 5) }), 0, after, true)).toEqual({ take: 'conflict-over' });
  });

  it('takes an earlier-started process as the replacement of a later one that fell silent or stopped (a clock set back)', () => {
    const silent = standing({ startedAt: at(200), startedSeenAt: at(201) }, 210);
    expect(judge(silent, 0, 210 + OFFLINE_AFTER_MS / 1000)).toMatchObject({ take: 'row', process: 'replaced', say: { what: 'worker-restarted' } });
    expect(judge({ ...silent, status: 'stopped' }, 0, 215)).toEqual({ take: 'row', process: 'replaced', restarts: 0, restartReportedAt: null });
  });
});
