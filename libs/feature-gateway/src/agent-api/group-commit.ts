import { DataSource } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { Queryable, SqlState, sqlStateOf } from '@portolan/persistence';
import { BatchAnswer, BatcherOverloadedError, MicroBatcher, PendingSentMarks, Sent } from '@portolan/platform';

/**
 * Group commit for the agent's hot paths (result uploads, scan-start reports): what the two
 * ingests share to batch requests, commit them, answer each, and send what they committed.
 */

export const byId = (a: { readonly id: string }, b: { readonly id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Submits to a batcher; a full queue is the `busy` error (429 with Retry-After), naming what the hub is taking in. */
export async function submitOrBusy<I, O>(batcher: MicroBatcher<I, O>, item: I, what: string): Promise<O> {
  try {
    return await batcher.submit(item);
  } catch (error) {
    if (error instanceof BatcherOverloadedError) throw new DomainError('busy', `the hub is taking in too many ${what} at once (${error.message})`, { retryAfterMs: 2_000 });
    throw error;
  }
}

/**
 * A batch write's first two CTEs, `tracker_locks` then `unchanged`, which every write of the
 * statement is gated on (`UNCHANGED`), so they run before any of them:
 * - `tracker_locks`: its trackers (uuid[] parameter `trackers`) locked in id order as the foreign
 *   keys of its rows lock them (`FOR KEY SHARE`);
 * - `unchanged`: the existing jobs its decisions rest on (uuid[] parameter `jobs`, their statuses
 *   as read text[] `jobs + 1`), locked in id order as the locked read locks them, and checked to
 *   be as they were read (`portolan_unchanged`: otherwise the statement fails whole with a
 *   serialization failure).
 *
 * The order is the hub's: a tracker before its jobs, and both before the outbox rows and the
 * counts. The comparer holds a tracker (`FOR UPDATE`) while it marks the tracker's upload applied
 * and then locks its job; a write that held that job first and then waited on the tracker, or on
 * the upload row (a copy of that upload, sent to another replica at the same moment), closed a
 * cycle with it (seen in `agent-contention.int-spec`). The foreign-key checks at the end of the
 * statement, after the counts, then find their trackers locked already. `unchanged` reads
 * `tracker_locks` in a one-time filter, which runs before the join below it locks any job.
 */
export const trackersThenJobs = (trackers: number, jobs: number) => `tracker_locks AS MATERIALIZED (
       SELECT t.id FROM trackers t WHERE t.id = ANY($${trackers}::uuid[]) ORDER BY t.id FOR KEY SHARE OF t
     ), unchanged AS MATERIALIZED (
       SELECT portolan_unchanged(count(j.id) = cardinality($${jobs}::uuid[]) AND coalesce(bool_and(j.status = e.status), true), 'a scan job of the batch') AS ok
         FROM unnest($${jobs}::uuid[], $${jobs + 1}::text[]) AS e(id, status)
         LEFT JOIN (SELECT s.id, s.status FROM scan_jobs s WHERE s.id = ANY($${jobs}::uuid[]) ORDER BY s.id FOR UPDATE OF s) j USING (id)
        WHERE (SELECT count(*) FROM tracker_locks) >= 0
     )`;

/** The condition each write of a statement that begins with `trackersThenJobs` is gated on. */
export const UNCHANGED = '(SELECT ok FROM unchanged)';

/** The job parameters of `trackersThenJobs`: the jobs a write changes (each once), with their statuses as the batch `read` them. */
export function unchangedParams(ids: readonly string[], read: ReadonlyMap<string, { readonly status: string }>): [string[], string[]] {
  const unique = [...new Set(ids)];
  return [
    unique,
    unique.map((id) => {
      const job = read.get(id);
      if (!job) throw new Error(`job ${id} is written as read, but the batch did not read it`);
      return job.status;
    }),
  ];
}

/**
 * Commits a batch in as few round trips as it can: `attempt` reads what the batch refers to,
 * decides, and writes in one statement that begins with `trackersThenJobs`. First optimistically,
 * each statement its own transaction: two round trips, no BEGIN or COMMIT, and no job locked
 * between the read and the write. If the write finds a job changed since the read, or loses a
 * race on a unique key (an upload or a job written meanwhile), or a deadlock, it has written
 * nothing, and the batch is committed again in a transaction whose read locks the jobs
 * (`lock`), once more if that too lost a race on a unique key. A deadlock is logged: the
 * locks are taken in an order meant to make one impossible, and each costs the batch
 * Postgres's `deadlock_timeout` (1 s unless set) of waiting.
 */
export async function commitOptimistically<C>(db: DataSource, attempt: (q: Queryable, lock: boolean) => Promise<C>, logger: Logger, what: string): Promise<C> {
  try {
    return await attempt(db, false);
  } catch (error) {
    const state = sqlStateOf(error);
    if (state === SqlState.deadlockDetected) logger.warn({ err: String(error) }, `a batch of ${what} deadlocked; writing it again under the job locks`);
    else if (state !== SqlState.uniqueViolation && state !== SqlState.serializationFailure) throw error;
    return onceMoreIfRaced(() => db.transaction((manager) => attempt(manager, true)));
  }
}

/**
 * Group commit for a batch of requests, each decided on its own: commits the batch
 * (`commitOptimistically`) and answers each request from `after`; if the batch fails, commits
 * its requests one by one, so that one request never fails the others.
 */
export async function commitEach<R, C, O>(
  requests: readonly R[],
  commit: (batch: readonly R[]) => Promise<C>,
  after: (batch: readonly R[], committed: C) => BatchAnswer<O>[],
  logger: Logger,
  what: string,
): Promise<BatchAnswer<O>[]> {
  let committed: C;
  try {
    committed = await commit(requests);
  } catch (error) {
    if (requests.length === 1) throw error;
    logger.warn({ requests: requests.length, err: String(error) }, `a batch of ${what} failed; writing them one by one`);
    return commitOneByOne(requests, commit, after);
  }
  return after(requests, committed);
}

async function commitOneByOne<R, C, O>(requests: readonly R[], commit: (batch: readonly R[]) => Promise<C>, after: (batch: readonly R[], committed: C) => BatchAnswer<O>[]): Promise<BatchAnswer<O>[]> {
  const answers: BatchAnswer<O>[] = [];
  for (const request of requests) {
    try {
      answers.push(after([request], await commit([request]))[0]);
    } catch (error) {
      answers.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return answers;
}

/**
 * Runs `work` (one transaction) again once if it lost a race on a unique key: two copies of one
 * upload at the same time (an agent retrying after a timeout, two replicas) both find no job
 * and no upload, and the second insert fails. Run again, it finds what the first committed and
 * answers as for any replay, instead of a 500.
 */
async function onceMoreIfRaced<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (sqlStateOf(error) !== SqlState.uniqueViolation) throw error;
    return work();
  }
}

/**
 * What an ingest sends after a commit and leaves running (result messages, events): tracked so
 * that shutdown waits for it, and bounded so that a stalled bus holds the next batch back
 * instead of piling up batches of messages in memory. What a send resolves with (what the stream
 * acknowledged) is marked sent through `marks`, with the marks of the sends around it. The work
 * handles its own failures (what it could not send, the leader's sweeps send later); a rejection
 * here is ignored.
 */
export class BackgroundSends {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly max: number,
    private readonly marks?: PendingSentMarks,
  ) {}

  /** Resolves once fewer than `max` sends are running. */
  async room(): Promise<void> {
    while (this.running.size >= this.max) await Promise.race(this.running);
  }

  add(work: Promise<Sent | void>): void {
    const tracked: Promise<void> = work.then(
      (sent) => {
        if (sent) this.marks?.add(sent);
      },
      () => undefined,
    );
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  /** Resolves once every send started so far has ended and its marks are written. */
  async idle(): Promise<void> {
    await Promise.all(this.running);
    await this.marks?.flush();
  }
}
