import { PRESENCE_EVERY_MS } from '@portolan/platform';

/**
 * How long the process a worker's name was taken from may still be heard (its last beat in flight,
 * its word that it stops after a rolling restart started the new one first) before it is judged:
 * silent that long, it crashed (`worker-restarted`); heard after it, it runs beside the new one
 * (`worker-name-conflict`).
 */
export const REPLACED_GRACE_MS = 2 * PRESENCE_EVERY_MS;
/** Restarts without a word (crashes) are reported at most once in this long a name; the next report counts those in between. */
export const RESTARTS_REPORTED_EVERY_MS = 15 * 60_000;

/**
 * A process under a worker's name other than the one its row follows: its start (which tells
 * processes apart), when it was last heard, and what it is taken for: `replaced` (the row's
 * process took the name from it while it was online; judged after the grace), `conflict` (it
 * still speaks beside the row's), or `stopped` (it said it stops; its beats that come late are
 * passed over).
 */
export interface OtherProcess {
  startedAt: Date;
  seenAt: Date;
  state: 'replaced' | 'conflict' | 'stopped';
}

/** What the hub keeps of a worker's name besides what its process says. */
export interface NameBook {
  other: OtherProcess | null;
  /** Restarts without a word not yet reported, and when the last `worker-restarted` event was. */
  restarts: number;
  restartReportedAt: Date | null;
}

/** What the hub last wrote of a worker name (`workers`): the process it follows, its standing, and the book. */
export interface WorkerStanding extends NameBook {
  status: 'online' | 'offline' | 'stopped';
  /** The process's start, as it says it: with `other`, it tells one process under the name from another. */
  startedAt: Date;
  /** When the hub first heard that process. */
  startedSeenAt: Date;
  lastSeenAt: Date;
}

export type Heard =
  /** Nothing to write: a beat that comes after its process said it stopped. */
  | { take: 'nothing' }
  /** Of the other process: only the book changes. */
  | { take: 'book'; book: NameBook }
  /** The row, from this message: of the same process, the first of the name, or of another process that takes the name (`replaced`). */
  | { take: 'row'; process: 'same' | 'first' | 'replaced'; book: NameBook; say?: 'worker-online' };

/**
 * How a scheduler replica takes a worker's presence message, given what it last wrote of the name
 * (pure; `WorkerRegistry.record` writes it). It writes what was heard; the leader judges it by time
 * (`settleBook`). A name is followed one process at a time, told apart by its start:
 * - the row's process: its row, and `worker-online` if it had been taken for gone;
 * - the other process: when it was heard, or that it stopped; it takes the name back if the row's
 *   process went silent past the offline threshold, or stopped;
 * - a process not heard before takes the name: quietly if the last said it stopped, with
 *   `worker-online` if the last was offline; from an online one, which becomes the other process,
 *   `replaced` (one replaced before it, not yet judged and not heard since, counts as a restart).
 *   A first word that says it stops leaves an online process the name's.
 */
export function judgePresence(was: WorkerStanding | undefined, heard: { startedAt: Date; stopping: boolean }, now: Date, offlineAfterMs: number): Heard {
  const book: NameBook = { other: was?.other ?? null, restarts: was?.restarts ?? 0, restartReportedAt: was?.restartReportedAt ?? null };
  if (!was) return { take: 'row', process: 'first', book };
  const is = (p: { startedAt: Date } | null) => p?.startedAt.getTime() === heard.startedAt.getTime();
  const online = was.status === 'online' && now.getTime() - was.lastSeenAt.getTime() < offlineAfterMs;
  if (is(was)) {
    if (was.status === 'stopped' && !heard.stopping) return { take: 'nothing' };
    return { take: 'row', process: 'same', book, ...(was.status === 'offline' && !heard.stopping && { say: 'worker-online' as const }) };
  }
  if (book.other && is(book.other)) {
    if (book.other.state === 'stopped') return { take: 'nothing' };
    if (heard.stopping) return { take: 'book', book: { ...book, other: { ...book.other, seenAt: now, state: 'stopped' } } };
    if (!online) return { take: 'row', process: 'replaced', book: { ...book, other: null }, ...(was.status === 'offline' && { say: 'worker-online' as const }) };
    return { take: 'book', book: { ...book, other: { ...book.other, seenAt: now } } };
  }
  if (heard.stopping) return online ? { take: 'nothing' } : { take: 'row', process: 'replaced', book };
  if (was.status === 'stopped') return { take: 'row', process: 'replaced', book };
  if (was.status === 'offline') return { take: 'row', process: 'replaced', book, say: 'worker-online' };
  // The last never said it stopped: a crash, or a second process; the leader tells which after the
  // grace. One replaced before it, not yet judged, never heard since, went without a word too.
  const restarts = book.restarts + (book.other?.state === 'replaced' && book.other.seenAt <= was.startedSeenAt ? 1 : 0);
  return { take: 'row', process: 'replaced', book: { ...book, other: { startedAt: was.startedAt, seenAt: was.lastSeenAt, state: 'replaced' }, restarts } };
}

/**
 * The leader's judgement of a name's book by time (pure):
 * - a `replaced` process heard after the grace since the row's process was first heard runs
 *   beside it: a `conflict`, said (`worker-name-conflict`);
 * - a `replaced` process silent for the grace crashed, or was killed: a restart, counted if the
 *   leader heard all the while since it last spoke (else its word that it stopped may have gone
 *   unheard, and it is let go);
 * - a `conflict` silent for the offline threshold (while the leader listened) is over, and a
 *   `stopped` one forgotten;
 * - restarts are reported (`report`: how many, since when) at most once in
 *   `RESTARTS_REPORTED_EVERY_MS`.
 * Undefined when nothing changes.
 */
export function settleBook(
  standing: Pick<WorkerStanding, 'startedSeenAt'> & NameBook,
  now: Date,
  listeningSince: Date,
  offlineAfterMs: number,
): { book: NameBook; conflict?: OtherProcess; gone?: OtherProcess; report?: { restarts: number; since: Date | null } } | undefined {
  const { other } = standing;
  let book: NameBook = { other, restarts: standing.restarts, restartReportedAt: standing.restartReportedAt };
  let conflict: OtherProcess | undefined;
  let gone: OtherProcess | undefined;
  if (other?.state === 'replaced') {
    if (other.seenAt.getTime() - standing.startedSeenAt.getTime() >= REPLACED_GRACE_MS) {
      conflict = { ...other, state: 'conflict' };
      book = { ...book, other: conflict };
    } else if (now.getTime() - Math.max(other.seenAt.getTime(), standing.startedSeenAt.getTime()) >= REPLACED_GRACE_MS) {
      if (other.seenAt >= listeningSince) gone = other;
      book = { ...book, other: null, restarts: book.restarts + (gone ? 1 : 0) };
    }
  } else if (other && now.getTime() - Math.max(other.seenAt.getTime(), listeningSince.getTime()) >= offlineAfterMs) {
    // A conflict over, or a stop whose late beats would have come by now; silence counted only since the leader listens.
    book = { ...book, other: null };
  }
  const due = book.restarts > 0 && (!book.restartReportedAt || now.getTime() - book.restartReportedAt.getTime() >= RESTARTS_REPORTED_EVERY_MS);
  const report = due ? { restarts: book.restarts, since: book.restartReportedAt } : undefined;
  if (report) book = { ...book, restarts: 0, restartReportedAt: now };
  if (book.other === other && book.restarts === standing.restarts) return undefined;
  return { book, ...(conflict && { conflict }), ...(gone && { gone }), ...(report && { report }) };
}
