import { judgePresence, NameBook, REPLACED_GRACE_MS, RESTARTS_REPORTED_EVERY_MS, settleBook, WorkerStanding } from './presence.judge';

const OFFLINE_AFTER_MS = 60_000;
const GRACE_S = REPLACED_GRACE_MS / 1000;
const t0 = Date.parse('2026-12-07T10:00:00.000Z');
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const EMPTY: NameBook = { replaced: null, conflict: null, restarts: 0, restartReportedAt: null };

/** A name whose process started at `started` s, first heard a second later, last heard at `lastSeen` s. */
function standing(extra: Partial<WorkerStanding> = {}, started = 0, lastSeen = 100): WorkerStanding {
  return { status: 'online', startedAt: at(started), startedSeenAt: at(started + 1), lastSeenAt: at(lastSeen), ...EMPTY, ...extra };
}

const judge = (was: WorkerStanding | undefined, startedAt: number, now: number, stopping = false) => judgePresence(was, { startedAt: at(startedAt), stopping }, at(now), OFFLINE_AFTER_MS);

describe('judgePresence', () => {
  it('writes the first word of a name, and every word of the same process', () => {
    expect(judge(undefined, 0, 1)).toEqual({ take: 'row', process: 'first', book: EMPTY });
    expect(judge(standing(), 0, 110)).toEqual({ take: 'row', process: 'same', book: EMPTY });
    expect(judge(standing(), 0, 110, true)).toEqual({ take: 'row', process: 'same', book: EMPTY });
  });

  it('says worker-online when a process taken for gone speaks again, not when it says it stops', () => {
    expect(judge(standing({ status: 'offline' }), 0, 300)).toEqual({ take: 'row', process: 'same', book: EMPTY, say: 'worker-online' });
    expect(judge(standing({ status: 'offline' }), 0, 300, true)).toEqual({ take: 'row', process: 'same', book: EMPTY });
  });

  it('leaves a stopped process stopped when one of its beats comes after its last word', () => {
    expect(judge(standing({ status: 'stopped' }), 0, 101)).toEqual({ take: 'nothing' });
  });

  it('lets a process not heard before take the name: quietly after a stop, or when it says it stops (not from an online one); with worker-online after a silence', () => {
    expect(judge(standing({ status: 'stopped' }), 200, 201)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    expect(judge(standing({ status: 'offline' }), 200, 201, true)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    // But not from the online process of the name: a late word of one before it.
    expect(judge(standing(), 200, 201, true)).toEqual({ take: 'nothing' });
    expect(judge(standing({ status: 'offline' }), 500, 501)).toEqual({ take: 'row', process: 'replaced', book: EMPTY, say: 'worker-online' });
    // Whatever its clock says: a process started "before" the row's (a clock set back) is new all the same.
    expect(judge(standing({ status: 'stopped' }, 200, 210), 100, 220)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
  });

  it('keeps the process replaced while online for judgement, and counts one replaced before it and not yet judged as a restart', () => {
    expect(judge(standing(), 105, 106)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, replaced: { startedAt: at(0), seenAt: at(100) } } });
    const pending = standing({ replaced: { startedAt: at(0), seenAt: at(100) } }, 105, 110);
    expect(judge(pending, 112, 113)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, replaced: { startedAt: at(105), seenAt: at(110) }, restarts: 1 } });
  });

  it('takes the replaced process saying it stops for a rolling restart; still speaking after the grace, for a second process under the name', () => {
    const replaced = { startedAt: at(0), seenAt: at(100) };
    const row = standing({ replaced }, 200, 210);
    expect(judge(row, 0, 211, true)).toEqual({ take: 'book', book: EMPTY });
    // Its last beat in flight, within the grace: nothing.
    expect(judge(row, 0, 201 + GRACE_S - 1)).toEqual({ take: 'nothing' });
    // After it: a conflict, said.
    const after = 201 + GRACE_S;
    expect(judge(row, 0, after)).toEqual({ take: 'book', book: { ...EMPTY, conflict: { startedAt: at(0), seenAt: at(after) } }, say: 'worker-name-conflict' });
  });

  it('says a conflict once while it lasts; again after it was silent for the threshold; over when that process says it stops', () => {
    const row = standing({ conflict: { startedAt: at(0), seenAt: at(290) } }, 200, 300);
    expect(judge(row, 0, 305)).toEqual({ take: 'book', book: { ...EMPTY, conflict: { startedAt: at(0), seenAt: at(305) } } });
    expect(judge(row, 0, 290 + OFFLINE_AFTER_MS / 1000)).toMatchObject({ take: 'book', say: 'worker-name-conflict' });
    expect(judge(row, 0, 306, true)).toEqual({ take: 'book', book: EMPTY });
  });

  it("gives the name to the other process once the row's is silent past the threshold, offline or stopped", () => {
    const conflict = { startedAt: at(0), seenAt: at(290) };
    expect(judge(standing({ conflict }, 200, 300), 0, 360)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    expect(judge(standing({ conflict, status: 'offline' }, 200, 300), 0, 365)).toEqual({ take: 'row', process: 'replaced', book: EMPTY, say: 'worker-online' });
    expect(judge(standing({ replaced: { startedAt: at(0), seenAt: at(100) }, status: 'stopped' }, 200, 210), 0, 215)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
  });
});

describe('settleBook', () => {
  const listening = at(-1000);
  const settle = (book: Partial<NameBook>, now: number, since = listening, startedSeen = 201) => settleBook({ startedSeenAt: at(startedSeen), ...EMPTY, ...book }, at(now), since, OFFLINE_AFTER_MS);
  const replaced = { startedAt: at(0), seenAt: at(100) };

  it('leaves a replaced process alone within the grace; after it, counts it as a restart and reports it', () => {
    expect(settle({ replaced }, 201 + GRACE_S - 1)).toBeUndefined();
    expect(settle({ replaced }, 201 + GRACE_S)).toEqual({
      book: { ...EMPTY, restartReportedAt: at(201 + GRACE_S) },
      gone: replaced,
      report: { restarts: 1, since: null },
    });
  });

  it('lets a replaced process go, uncounted, when the leader did not hear all the while since it last spoke (its stop may have gone unheard)', () => {
    expect(settle({ replaced }, 300, at(150))).toEqual({ book: EMPTY });
  });

  it('reports restarts at most once in 15 minutes, counting those between, and flushes them once that has passed without another', () => {
    const reported = at(100);
    expect(settle({ replaced, restartReportedAt: reported }, 300)).toEqual({ book: { ...EMPTY, restarts: 1, restartReportedAt: reported }, gone: replaced });
    expect(settle({ restarts: 1, restartReportedAt: reported }, 300)).toBeUndefined();
    const later = 100 + RESTARTS_REPORTED_EVERY_MS / 1000;
    expect(settle({ restarts: 3, restartReportedAt: reported }, later)).toEqual({ book: { ...EMPTY, restartReportedAt: at(later) }, report: { restarts: 3, since: reported } });
  });

  it('ends a conflict not heard for the offline threshold', () => {
    const conflict = { startedAt: at(0), seenAt: at(300) };
    expect(settle({ conflict }, 359)).toBeUndefined();
    expect(settle({ conflict }, 360)).toEqual({ book: EMPTY });
  });
});
