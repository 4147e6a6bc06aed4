import { Injectable } from '@nestjs/common';
import { EntityManager, In } from 'typeorm';
import { ScanChunkEntity, ScanJobEntity, ScanJobStatus } from '@portolan/persistence';
import { EventRecorder, NewEvent } from './event.recorder';

export interface ChunkOutcome {
  readonly worker?: string;
  readonly engine?: string;
  readonly engineVersion?: string;
  readonly args?: string[];
  readonly startedAt?: Date;
  readonly finishedAt: Date;
  readonly hostsUp?: number;
  readonly error?: string;
  /** Failed by the scheduler for want of its result by the deadline (`reopenTimedOut`). */
  readonly timedOut?: boolean;
}

/** How the error of a chunk the scheduler failed for want of its result begins. */
export const CHUNK_TIMED_OUT = 'timed out: ';
/**
 * Takes the lock under which held chunks (a paced run's, `ScanChunkEntity.held`) change, to the
 * end of the caller's transaction: their release (`ChunkDispatcher.releasePacedTurns`), their
 * cancelling. Two releases at once could each pick another head of one tracker, and a release
 * and a cancel, each writing many held chunks of a job in its own order, could deadlock.
 */
export async function lockPacedTurns(manager: Pick<EntityManager, 'query'>): Promise<void> {
  await manager.query('SELECT pg_advisory_xact_lock(7243102)');
}

/** How the error of a paced run's held chunk begins that was failed untried, behind one no worker took (`failHeldBehind`). */
const CHUNK_NOT_TRIED = 'not started: ';

/**
 * The bookkeeping of scan jobs and their chunks, shared by the comparer (results), the
 * scheduler (planning failures, timeouts) and the gateway. A job is finished when every chunk
 * is done or failed; finishing writes the `communications` event with the scan's duration.
 * Callers hold the job's row lock (`lockJob`) inside their transaction.
 */
@Injectable()
export class ScanJobLedger {
  constructor(private readonly events: EventRecorder) {}

  async lockJob(manager: EntityManager, jobId: string): Promise<ScanJobEntity | null> {
    return (await this.lockJobs(manager, [jobId])).get(jobId) ?? null;
  }

  /** Locks many jobs (in id order, so concurrent callers never wait on each other in a cycle). */
  async lockJobs(manager: EntityManager, jobIds: readonly string[]): Promise<Map<string, ScanJobEntity>> {
    if (!jobIds.length) return new Map();
    const jobs = await manager.getRepository(ScanJobEntity).find({ where: { id: In([...new Set(jobIds)]) }, order: { id: 'ASC' }, lock: { mode: 'pessimistic_write' } });
    return new Map(jobs.map((j) => [j.id, j]));
  }

  /**
   * Takes back the timeout of a scanner worker's chunk that the scheduler failed for want of its
   * result, now that the result has come after all (the comparer stopped or behind past the
   * deadline, a worker slower than it): the chunk, and its job with it, are open again in
   * memory, to be settled with the result as any other (`settleChunks`, then `finishComplete`,
   * in the caller's transaction under the job's lock). False, and nothing changed, for any other
   * chunk. An agent's run is reopened by its upload instead (the gateway). Answers the status the
   * job had finished with, null if it had not finished: give it to `finishComplete`, whose event
   * then says the job finished again.
   */
  async reopenTimedOut(manager: EntityManager, job: ScanJobEntity, chunk: ScanChunkEntity): Promise<{ finishedAs: ScanJobStatus | null } | false> {
    if (!this.reopenable(job, chunk)) return false;
    chunk.status = 'running';
    job.chunksFailed -= 1;
    // A paced chunk taken after all: the chunks failed untried behind it wait their turn again.
    const [untried]: [{ id: string }[], number] = await manager.query(
      `UPDATE scan_chunks SET status = 'queued', held = true, error = NULL, started_at = NULL, finished_at = NULL
        WHERE job_id = $1 AND status = 'failed' AND NOT timed_out AND starts_with(error, $2) RETURNING id`,
      [job.id, CHUNK_NOT_TRIED],
    );
    job.chunksFailed -= untried.length;
    // The job's error names its first chunk to fail: this one's gives way to the next, if any (read
    // from the database: callers reopen one chunk of a job at a time, see the comparer's applyResults).
    if (job.error?.startsWith(chunkLabel(job, chunk.index))) {
      const [other]: { chunk_index: number; error: string | null }[] = await manager.query(
        `SELECT chunk_index, error FROM scan_chunks WHERE job_id = $1 AND status = 'failed' AND id <> $2 ORDER BY finished_at, chunk_index LIMIT 1`,
        [job.id, chunk.id],
      );
      job.error = other ? `${chunkLabel(job, other.chunk_index)}${other.error}` : null;
    }
    if (job.status !== 'failed' && job.status !== 'partial') return { finishedAs: null };
    const finishedAs = job.status;
    job.status = 'running';
    return { finishedAs };
  }

  /**
   * Fails, untried, the chunks of a paced run held behind `untaken`, which no worker took within
   * its queue timeout (the scheduler's): they would each wait as long again. If `untaken` was
   * taken after all, its result puts them back in their turn (`reopenTimedOut`).
   */
  async failHeldBehind(manager: EntityManager, job: ScanJobEntity, untaken: ScanChunkEntity, now: Date): Promise<number> {
    const error = `${CHUNK_NOT_TRIED}chunk ${untaken.index + 1}/${job.chunkCount} of this paced run, scanned one chunk at a time, waited its whole queue timeout for a worker, so the chunks after it were not tried`;
    return this.failHeld(manager, job, error, now);
  }

  /** Fails the job's chunks held for their turn, with `error`; answers how many. */
  async failHeld(manager: EntityManager, job: ScanJobEntity, error: string, now: Date): Promise<number> {
    const held = await manager.find(ScanChunkEntity, { where: { jobId: job.id, held: true, status: 'queued' }, order: { index: 'ASC' } });
    if (!held.length) return 0;
    await this.settleChunks(manager, held.map((chunk) => ({ job, chunk, outcome: { finishedAt: now, error } })));
    await manager.query(`UPDATE scan_chunks SET held = false WHERE id = ANY($1::uuid[])`, [held.map((c) => c.id)]);
    return held.length;
  }

  /** Whether the chunk is a scanner worker's that the scheduler failed for want of its result (`reopenTimedOut`), of a job no operator cancelled. */
  reopenable(job: ScanJobEntity, chunk: ScanChunkEntity): boolean {
    return chunk.status === 'failed' && chunk.timedOut && job.agentId === null && job.cancelledAt === null;
  }

  /** Marks an open chunk done or failed; false when it was already settled (nothing changes). */
  async settleChunk(manager: EntityManager, job: ScanJobEntity, chunk: ScanChunkEntity, outcome: ChunkOutcome): Promise<boolean> {
    return (await this.settleChunks(manager, [{ job, chunk, outcome }]))[0];
  }

  /**
   * Marks open chunks done or failed, and adds them to their jobs (the job objects are updated
   * too), in two statements whatever their number; answers, per chunk, whether it was open.
   */
  async settleChunks(manager: EntityManager, settles: readonly { job: ScanJobEntity; chunk: ScanChunkEntity; outcome: ChunkOutcome }[]): Promise<boolean[]> {
    const chunks: Record<string, unknown>[] = [];
    const jobs = new Map<string, ScanJobEntity>();
    const answers = settles.map(({ job, chunk, outcome }) => {
      if (chunk.status === 'done' || chunk.status === 'failed') return false;
      const failed = outcome.error !== undefined;
      chunk.status = failed ? 'failed' : 'done';
      chunks.push({
        id: chunk.id,
        status: chunk.status,
        progress: failed ? chunk.progress : 100,
        hosts_done: failed ? chunk.hostsDone : chunk.hostCount,
        worker: outcome.worker ?? chunk.worker,
        engine: outcome.engine ?? chunk.engine,
        engine_version: outcome.engineVersion ?? chunk.engineVersion,
        args: outcome.args ?? chunk.args,
        started_at: outcome.startedAt ?? chunk.startedAt ?? outcome.finishedAt,
        finished_at: outcome.finishedAt,
        error: outcome.error ?? null,
        timed_out: outcome.timedOut ?? false,
      });
      job.chunksDone += failed ? 0 : 1;
      job.chunksFailed += failed ? 1 : 0;
      if (!failed) {
        job.hostsDone += chunk.hostCount;
        job.probesDone += chunk.probeCount;
        job.hostsUp += outcome.hostsUp ?? 0;
      }
      job.startedAt = earliest(job.startedAt, outcome.startedAt ?? outcome.finishedAt);
      if (failed && !job.error) job.error = `${chunkLabel(job, chunk.index)}${outcome.error}`;
      if (job.status === 'queued') job.status = 'running';
      jobs.set(job.id, job);
      return true;
    });
    if (!chunks.length) return answers;
    await manager.query(
      `UPDATE scan_chunks c SET status = v.status, progress = v.progress, hosts_done = v.hosts_done, worker = v.worker, engine = v.engine, engine_version = v.engine_version,
              args = v.args, started_at = v.started_at, finished_at = v.finished_at, error = v.error, timed_out = v.timed_out
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, status text, progress real, hosts_done int, worker text, engine text, engine_version text, args jsonb,
              started_at timestamptz, finished_at timestamptz, error text, timed_out boolean)
        WHERE c.id = v.id`,
      [JSON.stringify(chunks.sort((x, y) => String(x['id']).localeCompare(String(y['id']))))],
    );
    await manager.query(
      `UPDATE scan_jobs j SET chunks_done = v.chunks_done, chunks_failed = v.chunks_failed, hosts_done = v.hosts_done, probes_done = v.probes_done, hosts_up = v.hosts_up,
              started_at = v.started_at, error = v.error, status = v.status
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, chunks_done int, chunks_failed int, hosts_done int, probes_done int, hosts_up int, started_at timestamptz, error text, status text)
        WHERE j.id = v.id`,
      [
        JSON.stringify(
          [...jobs.values()]
            .sort((x, y) => x.id.localeCompare(y.id))
            .map((j) => ({ id: j.id, chunks_done: j.chunksDone, chunks_failed: j.chunksFailed, hosts_done: j.hostsDone, probes_done: j.probesDone, hosts_up: j.hostsUp, started_at: j.startedAt, error: j.error, status: j.status })),
        ),
      ],
    );
    return answers;
  }

  /** Finishes the job when all its chunks are settled; returns the communications event rows. */
  async finishIfComplete(manager: EntityManager, job: ScanJobEntity, now: Date) {
    return this.finishComplete(manager, [job], now);
  }

  /**
   * Finishes those of the jobs whose chunks are all settled, with their communications events;
   * `reopened`: jobs that had finished before, by id, with the status they had (`reopenTimedOut`).
   */
  async finishComplete(manager: EntityManager, jobs: readonly ScanJobEntity[], now: Date, reopened: ReadonlyMap<string, ScanJobStatus> = new Map()) {
    const complete = jobs.filter((job) => job.chunkCount > 0 && job.chunksDone + job.chunksFailed >= job.chunkCount && job.status !== 'succeeded' && job.status !== 'failed' && job.status !== 'partial');
    return this.finish(
      manager,
      complete.map((job) => ({ job, status: job.chunksFailed === 0 ? 'succeeded' : job.chunksDone === 0 ? 'failed' : 'partial', error: job.error, finishedAs: reopened.get(job.id) })),
      now,
    );
  }

  /**
   * Fails the runs asked of agents for these trackers that no agent process has started (asked, or
   * picked up), each with `reason` and its `scan-failed` event, in the caller's transaction, which
   * holds the trackers' locks already (taken first, as the agent ingests take them). The agent
   * would pass them over (they are not in its configuration): they would wait for the start timeout.
   */
  async cancelUnstartedAgentRuns(manager: EntityManager, trackerIds: readonly string[], reason: string, now: Date) {
    if (!trackerIds.length) return [];
    const open: { id: string }[] = await manager.query(`SELECT id FROM scan_jobs WHERE tracker_id = ANY($1::uuid[]) AND agent_id IS NOT NULL AND status IN ('pending', 'queued')`, [[...trackerIds]]);
    const jobs = [...(await this.lockJobs(manager, open.map((j) => j.id))).values()].filter((job) => job.status === 'pending' || job.status === 'queued');
    return this.finish(manager, jobs.map((job) => ({ job, status: 'failed' as const, error: reason })), now);
  }

  /**
   * Fails the chunks of the trackers' runs held for their turn (a paced run's, `ScanChunkEntity.held`),
   * with `reason`, when the trackers are disabled: a paced run may go on for days, chunk by chunk,
   * and a disabled tracker is scanned no more (chunks under way finish). A job left with nothing
   * open finishes with what was scanned; answers its communications events.
   */
  async cancelHeldChunks(manager: EntityManager, trackerIds: readonly string[], reason: string, now: Date) {
    if (!trackerIds.length) return [];
    const open: { job_id: string }[] = await manager.query(
      `SELECT DISTINCT c.job_id FROM scan_chunks c JOIN scan_jobs j ON j.id = c.job_id WHERE j.tracker_id = ANY($1::uuid[]) AND c.held AND c.status = 'queued'`,
      [[...trackerIds]],
    );
    const jobs = [...(await this.lockJobs(manager, open.map((j) => j.job_id))).values()];
    if (jobs.length) await lockPacedTurns(manager);
    for (const job of jobs) await this.failHeld(manager, job, reason, now);
    return this.finishComplete(manager, jobs, now);
  }

  /**
   * Cancels an open scanner or collector job (an operator's, `POST /jobs/:id/cancel`): its chunks
   * not settled yet, queued, held for their turn or being scanned, fail as cancelled by `actor`
   * (and why, if said), and the job with them, `failed`, or `partial` with what was scanned
   * already; a job not planned yet fails outright. Marked cancelled (`cancelledAt`), its chunks the
   * scheduler timed out are no longer taken back by a late result (`reopenable`), and a worker that
   * reports progress on one of them is told again (`ProgressTracker`). The job's error says it was cancelled,
   * then what failed before, if anything. Answers the reason its chunks failed with, and the
   * job's communications event. The workers are told apart (`Messages.jobCancelled`); what they
   * send of it later is passed over.
   */
  async cancelJob(manager: EntityManager, job: ScanJobEntity, actor: string, why: string | undefined, now: Date) {
    const reason = `cancelled by ${actor}${why ? `: ${why}` : ''}`;
    job.cancelledAt = now;
    await manager.query(`UPDATE scan_jobs SET cancelled_at = $2 WHERE id = $1`, [job.id, now]);
    if (job.status === 'pending') return { reason, events: await this.failJob(manager, job, reason, now) };
    await lockPacedTurns(manager);
    const before = job.error;
    const open = await manager.find(ScanChunkEntity, { where: { jobId: job.id, status: In(['queued', 'running']) }, order: { index: 'ASC' } });
    await this.settleChunks(manager, open.map((chunk) => ({ job, chunk, outcome: { finishedAt: now, error: reason } })));
    await manager.query(`UPDATE scan_chunks SET held = false WHERE job_id = $1 AND held`, [job.id]);
    // The job says first that it was cancelled (the scheduler tells workers so), then what failed before.
    job.error = before ? `${reason} (before that, ${before})` : reason;
    return { reason, events: await this.finishIfComplete(manager, job, now) };
  }

  /** Fails a job that never got to run (planning error), with its communications event. */
  async failJob(manager: EntityManager, job: ScanJobEntity, error: string, now: Date) {
    return this.finish(manager, [{ job, status: 'failed', error }], now);
  }

  private async finish(manager: EntityManager, ends: readonly { job: ScanJobEntity; status: ScanJobStatus; error: string | null; finishedAs?: ScanJobStatus }[], now: Date) {
    if (!ends.length) return [];
    // A scan ended when its last chunk did, not when the comparer got round to it.
    const last: { job_id: string; finished_at: Date | null }[] = await manager.query('SELECT job_id, max(finished_at) AS finished_at FROM scan_chunks WHERE job_id = ANY($1::uuid[]) GROUP BY job_id', [ends.map((e) => e.job.id)]);
    const lastOf = new Map(last.map((r) => [r.job_id, r.finished_at]));
    const events: NewEvent[] = [];
    const rows = ends.map(({ job, status, error, finishedAs }) => {
      const startedAt = job.startedAt ?? job.requestedAt;
      const ended = lastOf.get(job.id);
      const finishedAt = ended ? new Date(ended) : now;
      const durationMs = Math.max(0, finishedAt.getTime() - startedAt.getTime());
      Object.assign(job, { status, finishedAt, durationMs, error });
      events.push({
        kind: 'communications',
        deviceId: job.deviceId,
        trackerId: job.trackerId,
        jobId: job.id,
        occurredAt: now,
        details: {
          what: status === 'failed' ? 'scan-failed' : 'scan-finished',
          status,
          trigger: job.trigger,
          durationMs,
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
          hostsPlanned: job.hostsPlanned,
          hostsUp: job.hostsUp,
          probesPlanned: job.probesPlanned,
          chunks: job.chunkCount,
          chunksFailed: job.chunksFailed,
          ...(error ? { reason: error } : {}),
          // Finished again: a chunk's result came after the scheduler had failed it by its deadline.
          ...(finishedAs ? { reopened: true, previousStatus: finishedAs } : {}),
        },
      });
      return { id: job.id, status, finished_at: finishedAt, duration_ms: durationMs, error };
    });
    await manager.query(
      `UPDATE scan_jobs j SET status = v.status, finished_at = v.finished_at, duration_ms = v.duration_ms, error = v.error
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, status text, finished_at timestamptz, duration_ms int, error text) WHERE j.id = v.id`,
      [JSON.stringify(rows.sort((x, y) => x.id.localeCompare(y.id)))],
    );
    return this.events.insert(manager, events);
  }
}

/** How a job's error names the chunk it comes from. */
function chunkLabel(job: ScanJobEntity, index: number): string {
  return `chunk ${index + 1}/${job.chunkCount}: `;
}

function earliest(a: Date | null, b: Date): Date {
  return a && a.getTime() <= b.getTime() ? a : b;
}
