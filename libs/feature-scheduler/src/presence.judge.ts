import { PRESENCE_EVERY_MS } from '@portolan/platform';

/**
 * A process that replaces another under its name may still hear the one before it for this long
 * (its last beat in flight, or a rolling restart that starts the new process first) before two
 * processes speaking under one name are taken for a conflict.
 */
export const REPLACED_GRACE_MS = 2 * PRESENCE_EVERY_MS;
/** Restarts without a word (crashes) are reported at most once in this long; the next report counts those in between. */
export const RESTARTS_REPORTED_EVERY_MS = 15 * 60_000;

/** What the hub last wrote of a worker name (`workers`): the process it last took for it, and that process's standing. */
export interface WorkerStanding {
  status: 'online' | 'offline' | 'stopped';
  /** The process's start, as it says it: it tells one process under the name from another. */
  startedAt: Date;
  /** When the hub first heard that process. */
  startedSeenAt: Date;
  lastSeenAt: Date;
  /** Restarts without a word since the last `worker-restarted` event, and when that was. */
  restarts: number;
  restartReportedAt: Date | null;
  /** When another process under the name was last heard while this one spoke. */
  conflictSeenAt: Date | null;
}

export type Heard =
  /** Nothing to write: a beat of a process that said it stopped (out of order), or of one just replaced. */
  | { take: 'nothing' }
  /** Another, earlier started, process speaks under the name of a live one: `say` a `worker-name-conflict` unless one is under way. */
  | { take: 'conflict'; say: boolean }
  /** That other process says it stops. */
  | { take: 'conflict-over' }
  /**
   * The name's row, written from this message: of the same process, the first of the name, or
   * of a process that replaces the last one (`replaced`); `say`: its event, if any; `restarts`
   * and `restartReportedAt`: the restarts without a word not yet reported, and when they last were.
   */
  | {
      take: 'row';
      process: 'same' | 'first' | 'replaced';
      say?: 'worker-online' | { what: 'worker-restarted'; report: number; since: Date | null };
      restarts: number;
      restartReportedAt: Date | null;
    };

/**
 * How the hub takes a worker's presence message, given what it last wrote of its name (pure; the
 * `WorkerRegistry` writes what it says). A name is one process at a time, told apart by its
 * start:
 * - the same process: its row, and `worker-online` if it had been taken for gone;
 * - another one whose predecessor said it stopped, or one that says it stops: its row, no event;
 * - another one while the last is offline: its row, and `worker-online`;
 * - another one while the last is online, which never said it stopped: it crashed or was killed,
 *   and restarted (`worker-restarted`, at most one in `RESTARTS_REPORTED_EVERY_MS`, counting those
 *   between);
 * - but one started before the live process the hub has for the name, heard after the grace: two
 *   processes share the name (`worker-name-conflict`; the later one keeps the row). Started
 *   before a process that itself fell silent, it is taken as that one's replacement (a host
 *   whose clock was set back).
 */
export function judgePresence(was: WorkerStanding | undefined, heard: { startedAt: Date; stopping: boolean }, now: Date, offlineAfterMs: number): Heard {
  const keep = { restarts: was?.restarts ?? 0, restartReportedAt: was?.restartReportedAt ?? null };
  if (!was) return { take: 'row', process: 'first', ...keep };
  if (heard.startedAt.getTime() === was.startedAt.getTime()) {
    if (was.status === 'stopped' && !heard.stopping) return { take: 'nothing' };
    return { take: 'row', process: 'same', ...(was.status === 'offline' && !heard.stopping && { say: 'worker-online' as const }), ...keep };
  }
  const lastAlive = was.status !== 'stopped' && now.getTime() - was.lastSeenAt.getTime() < offlineAfterMs;
  if (lastAlive && heard.startedAt < was.startedAt) {
    if (heard.stopping) return { take: 'conflict-over' };
    if (now.getTime() - was.startedSeenAt.getTime() < REPLACED_GRACE_MS) return { take: 'nothing' };
    return { take: 'conflict', say: !was.conflictSeenAt || now.getTime() - was.conflictSeenAt.getTime() >= offlineAfterMs };
  }
  if (was.status === 'stopped' || heard.stopping) return { take: 'row', process: 'replaced', ...keep };
  if (was.status === 'offline') return { take: 'row', process: 'replaced', say: 'worker-online', ...keep };
  const restarts = was.restarts + 1;
  if (was.restartReportedAt && now.getTime() - was.restartReportedAt.getTime() < RESTARTS_REPORTED_EVERY_MS) {
    return { take: 'row', process: 'replaced', restarts, restartReportedAt: was.restartReportedAt };
  }
  return { take: 'row', process: 'replaced', say: { what: 'worker-restarted', report: restarts, since: was.restartReportedAt }, restarts: 0, restartReportedAt: now };
}
