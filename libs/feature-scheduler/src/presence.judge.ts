import { PRESENCE_EVERY_MS } from '@portolan/platform';

/**
 * How long a process that took a worker's name may still hear the one it replaced (its last beat
 * in flight, its word that it stops after a rolling restart started the new one first) before
 * that one is judged: crashed (`worker-restarted`), or alive beside it (`worker-name-conflict`).
 */
export const REPLACED_GRACE_MS = 2 * PRESENCE_EVERY_MS;
/** Restarts without a word (crashes) are reported at most once in this long; the next report counts those in between. */
export const RESTARTS_REPORTED_EVERY_MS = 15 * 60_000;

/** A process under a worker's name other than the one the row follows: its start (which tells processes apart) and when it was last heard. */
export interface OtherProcess {
  startedAt: Date;
  seenAt: Date;
}

/** What the hub keeps of a worker's name besides what its process says. */
export interface NameBook {
  /** The process the row's process replaced while it was online, until judged after the grace. */
  replaced: OtherProcess | null;
  /** Another process heard speaking under the name while the row's does. */
  conflict: OtherProcess | null;
  /** Restarts without a word not yet reported, and when the last `worker-restarted` event was. */
  restarts: number;
  restartReportedAt: Date | null;
}

/** What the hub last wrote of a worker name (`workers`): the process it follows, its standing, and the book. */
export interface WorkerStanding extends NameBook {
  status: 'online' | 'offline' | 'stopped';
  /** The process's start, as it says it: with `replaced` and `conflict`, it tells one process under the name from another. */
  startedAt: Date;
  /** When the hub first heard that process. */
  startedSeenAt: Date;
  lastSeenAt: Date;
}

export type Heard =
  /** Nothing to write: a beat of a process that said it stopped (out of order), or of the one just replaced, within the grace. */
  | { take: 'nothing' }
  /** A process other than the row's: only the book changes; `conflict`, to be said unless one is under way. */
  | { take: 'book'; book: NameBook; say?: 'worker-name-conflict' }
  /** The row, from this message: of the same process, the first of the name, or of another process that takes the name (`replaced`). */
  | { take: 'row'; process: 'same' | 'first' | 'replaced'; book: NameBook; say?: 'worker-online' };

/**
 * How the hub takes a worker's presence message, given what it last wrote of its name (pure; the
 * `WorkerRegistry` writes it). A name is followed one process at a time, told apart by its start:
 * - the same process: its row, and `worker-online` if it had been taken for gone;
 * - a process not heard under the name before takes the row: with no event if the last said it
 *   stopped, with `worker-online` if the last was offline; if the last was online, it is
 *   `replaced`, judged by `settleBook` after the grace (but a first word that says it stops
 *   leaves an online process the row's);
 * - the replaced process saying it stops: a rolling restart, not a crash; still speaking after the
 *   grace, or the process of a conflict still speaking: two processes share the name
 *   (`worker-name-conflict`, once while it lasts); and either takes the row back once the row's
 *   process is silent past the threshold, or stopped.
 */
export function judgePresence(was: WorkerStanding | undefined, heard: { startedAt: Date; stopping: boolean }, now: Date, offlineAfterMs: number): Heard {
  const book: NameBook = { replaced: was?.replaced ?? null, conflict: was?.conflict ?? null, restarts: was?.restarts ?? 0, restartReportedAt: was?.restartReportedAt ?? null };
  if (!was) return { take: 'row', process: 'first', book };
  const is = (p: { startedAt: Date } | null) => p?.startedAt.getTime() === heard.startedAt.getTime();
  if (is(was)) {
    if (was.status === 'stopped' && !heard.stopping) return { take: 'nothing' };
    return { take: 'row', process: 'same', book, ...(was.status === 'offline' && !heard.stopping && { say: 'worker-online' as const }) };
  }
  if (is(book.replaced) || is(book.conflict)) {
    const withoutIt = { ...book, replaced: is(book.replaced) ? null : book.replaced, conflict: is(book.conflict) ? null : book.conflict };
    if (heard.stopping) return { take: 'book', book: withoutIt };
    // The row's process fell silent, or stopped, while this one still speaks: it is the name's now.
    const rowAlive = was.status === 'online' && now.getTime() - was.lastSeenAt.getTime() < offlineAfterMs;
    if (!rowAlive) return { take: 'row', process: 'replaced', book: withoutIt, ...(was.status === 'offline' && { say: 'worker-online' as const }) };
    if (is(book.replaced) && now.getTime() - was.startedSeenAt.getTime() < REPLACED_GRACE_MS) return { take: 'nothing' };
    const under = book.conflict !== null && now.getTime() - book.conflict.seenAt.getTime() < offlineAfterMs;
    return { take: 'book', book: { ...withoutIt, conflict: { startedAt: heard.startedAt, seenAt: now } }, ...(!under && { say: 'worker-name-conflict' as const }) };
  }
  // Its last word, and the first heard of it: the name's process, online, is another one (this one's word came late, or it shares the name).
  if (heard.stopping) return was.status === 'online' ? { take: 'nothing' } : { take: 'row', process: 'replaced', book };
  if (was.status === 'stopped') return { take: 'row', process: 'replaced', book };
  if (was.status === 'offline') return { take: 'row', process: 'replaced', book, say: 'worker-online' };
  // The last never said it stopped: a crash, or a second process; told after the grace. One replaced before and not yet judged went without a word too.
  return { take: 'row', process: 'replaced', book: { ...book, replaced: { startedAt: was.startedAt, seenAt: was.lastSeenAt }, restarts: book.restarts + (book.replaced ? 1 : 0) } };
}

/**
 * The leader's look at a name's book (pure): a replaced process not heard for the grace after its
 * successor started went without a word, a restart, if the leader heard all the while since it
 * last spoke (else its word that it stopped may have gone unheard, and it is let go); a conflict
 * not heard for the offline threshold is over; restarts are reported (`report`: how many, since
 * when) at most once in `RESTARTS_REPORTED_EVERY_MS`. Undefined when nothing changes.
 */
export function settleBook(
  standing: Pick<WorkerStanding, 'startedSeenAt'> & NameBook,
  now: Date,
  listeningSince: Date,
  offlineAfterMs: number,
): { book: NameBook; gone?: OtherProcess; report?: { restarts: number; since: Date | null } } | undefined {
  let book: NameBook = { replaced: standing.replaced, conflict: standing.conflict, restarts: standing.restarts, restartReportedAt: standing.restartReportedAt };
  let gone: OtherProcess | undefined;
  if (book.replaced && now.getTime() - standing.startedSeenAt.getTime() >= REPLACED_GRACE_MS) {
    if (book.replaced.seenAt >= listeningSince) gone = book.replaced;
    book = { ...book, replaced: null, restarts: book.restarts + (gone ? 1 : 0) };
  }
  if (book.conflict && now.getTime() - book.conflict.seenAt.getTime() >= offlineAfterMs) book = { ...book, conflict: null };
  const due = book.restarts > 0 && (!book.restartReportedAt || now.getTime() - book.restartReportedAt.getTime() >= RESTARTS_REPORTED_EVERY_MS);
  const report = due ? { restarts: book.restarts, since: book.restartReportedAt } : undefined;
  if (report) book = { ...book, restarts: 0, restartReportedAt: now };
  const changed = book.replaced !== standing.replaced || book.conflict !== standing.conflict || book.restarts !== standing.restarts;
  return changed ? { book, ...(gone && { gone }), ...(report && { report }) } : undefined;
}
