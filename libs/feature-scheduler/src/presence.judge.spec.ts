import { judgePresence, NameBook, OtherProcess, REPLACED_GRACE_MS, RESTARTS_REPORTED_EVERY_MS, settleBook, WorkerStanding } from './presence.judge';

const OFFLINE_AFTER_MS = 60_000;
const GRACE_S = REPLACED_GRACE_MS / 1000;
const t0 = Date.parse('2026-12-07T10:00:00.000Z');
const at = (seconds: number) => new Date(t0 + seconds * 1000);
const EMPTY: NameBook = { other: null, restarts: 0, restartReportedAt: null };
const other = (started: number, seen: number, state: OtherProcess['state']): OtherProcess => ({ startedAt: at(started), seenAt: at(seen), state });

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

  it('lets a process not heard before take the name: quietly after a stop, with worker-online after a silence, whatever its clock says', () => {
    expect(judge(standing({ status: 'stopped' }), 200, 201)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    expect(judge(standing({ status: 'offline' }), 500, 501)).toEqual({ take: 'row', process: 'replaced', book: EMPTY, say: 'worker-online' });
    expect(judge(standing({ status: 'offline' }), 200, 201, true)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    // Started "before" the row's (a clock set back): new all the same.
    expect(judge(standing({ status: 'stopped' }, 200, 210), 100, 220)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    // But a first word that says it stops leaves an online process the name's (a late word of one before it).
    expect(judge(standing(), 200, 101, true)).toEqual({ take: 'nothing' });
  });

  it('keeps the online process a new one replaces for the leader to judge; one replaced before it and never heard to stop is a restart', () => {
    expect(judge(standing(), 105, 106)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, other: other(0, 100, 'replaced') } });
    const pending = standing({ other: other(0, 100, 'replaced') }, 105, 110);
    expect(judge(pending, 112, 113)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, other: other(105, 110, 'replaced'), restarts: 1 } });
    // Nor one heard since it was replaced (a twin), nor one that said it stopped (a rolling restart).
    const heard = standing({ other: other(0, 108, 'replaced') }, 105, 110);
    expect(judge(heard, 112, 113)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, other: other(105, 110, 'replaced') } });
    const stopped = standing({ other: other(0, 104, 'stopped') }, 105, 110);
    expect(judge(stopped, 112, 113)).toEqual({ take: 'row', process: 'replaced', book: { ...EMPTY, other: other(105, 110, 'replaced') } });
  });

  it('notes when the other process was heard, and that it stopped; passes over its beats after that', () => {
    const row = standing({ other: other(0, 100, 'replaced') }, 105, 120);
    expect(judge(row, 0, 121)).toEqual({ take: 'book', book: { ...EMPTY, other: other(0, 121, 'replaced') } });
    expect(judge(row, 0, 122, true)).toEqual({ take: 'book', book: { ...EMPTY, other: other(0, 122, 'stopped') } });
    expect(judge(standing({ other: other(0, 122, 'stopped') }, 105, 120), 0, 123)).toEqual({ take: 'nothing' });
  });

  it("gives the name to the other process once the row's is silent past the threshold, offline or stopped", () => {
    const conflict = other(0, 290, 'conflict');
    expect(judge(standing({ other: conflict }, 200, 300), 0, 360)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
    expect(judge(standing({ other: conflict, status: 'offline' }, 200, 300), 0, 365)).toEqual({ take: 'row', process: 'replaced', book: EMPTY, say: 'worker-online' });
    expect(judge(standing({ other: other(0, 100, 'replaced'), status: 'stopped' }, 200, 210), 0, 215)).toEqual({ take: 'row', process: 'replaced', book: EMPTY });
  });
});

describe('settleBook', () => {
  const listening = at(-1000);
  /** The row's process first heard at 201 s. */
  const settle = (book: Partial<NameBook>, now: number, since = listening) => settleBook({ startedSeenAt: at(201), ...EMPTY, ...book }, at(now), since, OFFLINE_AFTER_MS);

  it('leaves a replaced process alone while it was heard within the grace; silent for the grace, counts it as a restart and reports it', () => {
    const replaced = other(0, 195, 'replaced');
    expect(settle({ other: replaced }, 201 + GRACE_S - 1)).toBeUndefined();
    // Heard at 215 (a twin's beat within the grace): its silence counts from then.
    expect(settle({ other: other(0, 215, 'replaced') }, 201 + GRACE_S + 5)).toBeUndefined();
    expect(settle({ other: replaced }, 201 + GRACE_S)).toEqual({ book: { ...EMPTY, restartReportedAt: at(201 + GRACE_S) }, gone: replaced, report: { restarts: 1, since: null } });
  });

  it('takes a replaced process heard after the grace for a second process under the name, said once', () => {
    const twin = other(0, 201 + GRACE_S, 'replaced');
    const conflict = { ...twin, state: 'conflict' as const };
    expect(settle({ other: twin }, 201 + GRACE_S + 1)).toEqual({ book: { ...EMPTY, other: conflict }, conflict });
    expect(settle({ other: conflict }, 201 + GRACE_S + 2)).toBeUndefined();
  });

  it('ends a conflict not heard for the offline threshold', () => {
    const conflict = other(0, 300, 'conflict');
    expect(settle({ other: conflict }, 359)).toBeUndefined();
    expect(settle({ other: conflict }, 360)).toEqual({ book: EMPTY });
  });

  it('lets a replaced process go, uncounted, when the leader did not hear all the while since it last spoke (its stop may have gone unheard)', () => {
    expect(settle({ other: other(0, 150, 'replaced') }, 300, at(160))).toEqual({ book: EMPTY });
  });

  it('reports restarts at most once in 15 minutes, counting those between, and flushes them once that has passed without another', () => {
    const reported = at(100);
    const replaced = other(0, 150, 'replaced');
    expect(settle({ other: replaced, restartReportedAt: reported }, 300)).toEqual({ book: { ...EMPTY, restarts: 1, restartReportedAt: reported }, gone: replaced });
    expect(settle({ restarts: 1, restartReportedAt: reported }, 300)).toBeUndefined();
    const later = 100 + RESTARTS_REPORTED_EVERY_MS / 1000;
    expect(settle({ restarts: 3, restartReportedAt: reported }, later)).toEqual({ book: { ...EMPTY, restartReportedAt: at(later) }, report: { restarts: 3, since: reported } });
  });

  it('keeps a stopped process in the book for the offline threshold (its late beats are passed over), then forgets it', () => {
    expect(settle({ other: other(0, 150, 'stopped') }, 209)).toBeUndefined();
    expect(settle({ other: other(0, 150, 'stopped') }, 210)).toEqual({ book: EMPTY });
  });

  it("counts a conflict's silence only from when the leader listens (all schedulers were down)", () => {
    const conflict = other(0, 300, 'conflict');
    expect(settle({ other: conflict }, 400, at(390))).toBeUndefined();
    expect(settle({ other: conflict }, 450, at(390))).toEqual({ book: EMPTY });
  });
});
