import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AgentResultResponse } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { EventEntity, PortSetRecord, queryPrepared, Queryable } from '@portolan/persistence';
import { AgentUploadOutbox, BatchAnswer, DATA_SOURCE, EventRecorder, LOGGER, MicroBatcher, OutboxUpload, PendingSentMarks, PreparedEvents } from '@portolan/platform';
import { BackgroundSends, byId, commitEach, commitOptimistically, submitOrBusy, trackersThenJobs, UNCHANGED, unchangedParams } from './group-commit';
import { planUploadBatch, UploadBatchState, UploadDecision, uploadKey, UploadRequest } from './upload-batch.plan';

/**
 * The deadline of an agent run's one chunk, written with its result: past it, the scheduler's
 * leader looks whether the result is still waiting for the comparer (it then waits on, up to the
 * agent result timeout from its upload), else fails the chunk.
 */
const RESULT_DEADLINE_MS = 10 * 60_000;
/**
 * One batch written at a time: what arrives meanwhile makes the next batch bigger instead of a
 * second small one beside it. Measured with `npm run bench:agents` (back to back, 16:20 UTC
 * 2026-12-01): against two at a time, gateway CPU per upload 0.29 vs 0.35 ms at C=16, 0.25 vs
 * 0.27 ms at C=128, and Postgres 62% vs 77% of a core at C=16, with p99 no worse. The price: a
 * batch waiting for a job row locked elsewhere (the comparer finishing that job) holds the next
 * batch back for that long.
 *
 * Under load the next batch waits 2 ms for the agents the last one answered (`gatherMs`).
 * Measured back to back (09:55-10:15 UTC 2026-12-02, 20 s at each concurrency), gateway CPU per
 * upload without / with 2 ms / with 5 ms: C=16 0.310 / 0.289 / 0.278 ms, C=64 0.219 / 0.194 /
 * 0.208, uploads/s at C=64 2,279-2,435 / 2,508 / 2,216, p50 no worse at 2 ms; Postgres and NATS
 * with it, per upload, 0.525 → 0.427 ms at C=64.
 */
const BATCH = { maxBatch: 200, concurrency: 1, maxQueued: 4_000, gatherMs: 2 };
/** Committed batches whose messages may be in flight at once; the next batch waits for one of them. */
const MAX_PUBLISHING = 4;
/** How often the ingest logs, at info, what it took in since the last time (each batch is logged at debug). */
const TALLY_MS = 60_000;

/** The outbox rows, in batch order; parameter 5 of `writeAccepted`'s statement. */
const UPLOADS_INSERT = `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, body_gzip, acceptance, received_at)
     SELECT (e.u->>'id')::uuid, (e.u->>'agent_id')::uuid, e.u->>'idempotency_key', (e.u->>'job_id')::uuid, (e.u->>'tracker_id')::uuid, e.u->>'kind', decode(e.u->>'body', 'base64'), e.u->'acceptance', now()
       FROM jsonb_array_elements($5::jsonb) WITH ORDINALITY AS e(u, n)
      WHERE ${UNCHANGED}
      ORDER BY e.n`;
/** What the batch's events and counts are written after (`EventRecorder.prepare`): its trackers' and jobs' locks (`trackersThenJobs`), and its rows. */
const AFTER_UPLOADS = ['tracker_locks', 'unchanged', 'new_jobs', 'sized_jobs', 'chunks', 'new_uploads'];

type Accepted = Extract<UploadDecision, { kind: 'accepted' }>;
interface Committed {
  readonly decisions: UploadDecision[];
  /** The accepted uploads' result messages, their payloads serialized once (stored, then published). */
  readonly uploads: OutboxUpload[];
  /** The `scan-started` events written, to announce after the commit. */
  readonly events: EventEntity[];
}

/**
 * Stores agent result uploads with group commit: the uploads that arrive while a batch is
 * being written are written together in the next one, in two statements whatever its size
 * (`commitOptimistically`): one reads what the batch refers to (replays, trackers, jobs), one
 * writes jobs, chunks, outbox rows and the `scan-started` events with their counts, once it has
 * checked that the jobs are still as read. Every statement is a round trip that wakes Postgres,
 * and at small batches those dominate its work. A request is answered once its batch has
 * committed: the upload is then durable,
 * and its result message is published from the outbox row right after, in the background; what
 * that misses, the scheduler's leader publishes again (`AgentUploadOutbox`).
 *
 * One upload never fails the others: each is decided on its own (`planUploadBatch`), and a
 * batch whose transaction fails (a race with another replica on a unique key) is written again,
 * then upload by upload.
 */
@Injectable()
export class UploadIngest implements OnModuleDestroy {
  private readonly batcher = new MicroBatcher<UploadRequest, AgentResultResponse>((requests) => this.writeBatch(requests), BATCH);
  /** Committed batches whose messages are being published (then marked, a few times a second). */
  private readonly publishing: BackgroundSends;
  /** Uploads taken in since the last tally line; one line a minute instead of one a batch, which at a quiet hub is one an upload. */
  private tally = { batches: 0, accepted: 0, duplicates: 0, refused: 0 };
  private tallySince = Date.now();
  private readonly tallyTimer = setInterval(() => this.logTally(), TALLY_MS).unref();

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly outbox: AgentUploadOutbox,
  ) {
    const marks = new PendingSentMarks(db, (error) => this.logger.warn({ err: String(error) }, 'could not mark agent results published; the leader will send them again'));
    this.publishing = new BackgroundSends(MAX_PUBLISHING, marks);
  }

  accept(request: UploadRequest): Promise<AgentResultResponse> {
    return submitOrBusy(this.batcher, request, 'results');
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.tallyTimer);
    await this.batcher.idle();
    await this.publishing.idle();
    this.logTally();
  }

  /** Logs the uploads taken in since the last tally, if any. */
  private logTally(): void {
    const { tally } = this;
    const seconds = Math.round((Date.now() - this.tallySince) / 1000);
    this.tally = { batches: 0, accepted: 0, duplicates: 0, refused: 0 };
    this.tallySince = Date.now();
    if (tally.batches) this.logger.info({ ...tally, seconds }, 'agent results taken in');
  }

  private async writeBatch(requests: readonly UploadRequest[]): Promise<BatchAnswer<AgentResultResponse>[]> {
    await this.publishing.room();
    return commitEach(requests, (batch) => this.commit(batch), (batch, committed) => {
      this.afterCommit(batch, committed);
      return committed.decisions.map(answerOf);
    }, this.logger, 'agent results');
  }

  /** Read what the uploads refer to, decide, write the accepted ones (optimistically, then under the job locks if need be). */
  private commit(requests: readonly UploadRequest[]): Promise<Committed> {
    return commitOptimistically(this.db, async (q, lock) => {
      const state = await readBatchState(
        q,
        {
          keys: requests.map((r) => ({ agentId: r.agent.id, idempotencyKey: r.idempotencyKey })),
          trackerIds: requests.map((r) => r.result.trackerId),
          jobIds: requests.map((r) => r.result.jobId),
        },
        lock,
      );
      const decisions = planUploadBatch(requests, state, randomUUID);
      const accepted = decisions.filter((d): d is Accepted => d.kind === 'accepted');
      if (!accepted.length) return { decisions, uploads: [], events: [] };
      const started = accepted.flatMap((d) => (d.started ? [d.started] : []));
      const events = started.length ? this.events.prepare(started) : undefined;
      return { decisions, uploads: await writeAccepted(q, accepted, state.jobs, events), events: events?.rows ?? [] };
    }, this.logger, 'agent results');
  }

  /** Logs the batch and publishes its messages in the background (a few batches at a time). */
  private afterCommit(requests: readonly UploadRequest[], { decisions, uploads, events }: Committed): void {
    const accepted = decisions.filter((d): d is Accepted => d.kind === 'accepted');
    const duplicates = decisions.filter((d) => d.kind === 'duplicate').length;
    const refused = decisions.length - accepted.length - duplicates;
    decisions.forEach((d, i) => {
      const { agent, result } = requests[i];
      if (d.kind === 'accepted') this.logger.debug({ agentId: agent.id, jobId: result.jobId, trackerId: result.trackerId, status: result.status, hosts: result.hosts.length }, 'agent result accepted');
      else if (d.kind === 'duplicate') this.logger.info({ agentId: agent.id, jobId: d.jobId }, 'replayed agent upload; already accepted');
      else this.logger.info({ agentId: agent.id, jobId: result.jobId, code: d.error.code, reason: d.error.message }, 'agent result refused');
    });
    this.tally.batches += 1;
    this.tally.accepted += accepted.length;
    this.tally.duplicates += duplicates;
    this.tally.refused += refused;
    if (accepted.length) this.logger.debug({ accepted: accepted.length, duplicates, refused }, 'agent results stored');
    if (!accepted.length) return;
    // Both sent at once, then marked with those of the batches around it.
    this.publishing.add(
      Promise.all([this.events.publish(events), this.outbox.publishOnly(uploads)])
        .then(([announced, published]) => ({ events: announced, uploadIds: published }))
        .catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not publish agent results; the leader will')),
    );
  }
}

function answerOf(decision: UploadDecision): BatchAnswer<AgentResultResponse> {
  if (decision.kind === 'refused') return decision.error;
  return { jobId: decision.kind === 'duplicate' ? decision.jobId : decision.upload.jobId, duplicate: decision.kind === 'duplicate' };
}

/**
 * What a batch (of uploads, or of scan-start reports, which have no keys) refers to, in one
 * statement: its keys already accepted, its trackers with their devices' addresses (looked up
 * by key: joined, a batch of 60 had Postgres hash all 10,000 devices, 1.5 ms against 0.6), and
 * its jobs; with `lock` (inside a transaction) its trackers (`FOR KEY SHARE`, as a write's
 * foreign keys lock them) and then its jobs, each in id order, in the hub's order
 * (`trackersThenJobs`), so that the batch never waits on another writer in a cycle. A job's one
 * upload is also a unique key: a result that commits meanwhile elsewhere fails this batch, which
 * is then written again and finds it.
 */
export async function readBatchState(
  q: Queryable,
  refs: { readonly keys: readonly { agentId: string; idempotencyKey: string }[]; readonly trackerIds: readonly string[]; readonly jobIds: readonly string[] },
  lock: boolean,
): Promise<UploadBatchState> {
  type Row = {
    accepted: { agent_id: string; idempotency_key: string; job_id: string }[];
    trackers: { id: string; agent_id: string | null; device_id: string; mode: 'network' | 'remote' | 'self'; port_set: PortSetRecord; address: string }[];
    jobs: { id: string; agent_id: string | null; tracker_id: string; status: string; has_result: boolean; started: boolean }[];
  };
  const [row] = await queryPrepared<Row>(
    q,
    `${lock ? 'WITH tracker_locks AS MATERIALIZED (SELECT t.id FROM trackers t WHERE t.id = ANY($3::uuid[]) ORDER BY t.id FOR KEY SHARE OF t) ' : ''}SELECT
       (SELECT coalesce(json_agg(json_build_object('agent_id', k.agent_id, 'idempotency_key', k.idempotency_key, 'job_id', u.job_id)), '[]')
          FROM unnest($1::uuid[], $2::text[]) AS k(agent_id, idempotency_key)
          CROSS JOIN LATERAL (SELECT u.job_id FROM agent_uploads u WHERE u.agent_id = k.agent_id AND u.idempotency_key = k.idempotency_key LIMIT 1) u) AS accepted,
       (SELECT coalesce(json_agg(json_build_object('id', t.id, 'agent_id', t.agent_id, 'device_id', t.device_id, 'mode', t.mode, 'port_set', t.port_set,
                 'address', (SELECT d.address FROM devices d WHERE d.id = t.device_id))), '[]')
          FROM trackers t WHERE t.id = ANY($3::uuid[])) AS trackers,
       (SELECT coalesce(json_agg(j), '[]') FROM (
          SELECT j.id, j.agent_id, j.tracker_id, j.status, EXISTS (SELECT 1 FROM agent_uploads u WHERE u.job_id = j.id) AS has_result, j.started_at IS NOT NULL AS started
            FROM scan_jobs j WHERE j.id = ANY($4::uuid[]) ${lock ? 'AND (SELECT count(*) FROM tracker_locks) >= 0 ORDER BY j.id FOR UPDATE OF j' : ''}) j) AS jobs`,
    [refs.keys.map((k) => k.agentId), refs.keys.map((k) => k.idempotencyKey), [...new Set(refs.trackerIds)], [...new Set(refs.jobIds)]],
  );
  return {
    accepted: new Map(row.accepted.map((u) => [uploadKey(u.agent_id, u.idempotency_key), u.job_id])),
    trackers: new Map(row.trackers.map((t) => [t.id, { agentId: t.agent_id, deviceId: t.device_id, mode: t.mode, portSet: t.port_set, deviceAddress: t.address }])),
    jobs: new Map(row.jobs.map((j) => [j.id, { agentId: j.agent_id, trackerId: j.tracker_id, status: j.status, hasResult: j.has_result, started: j.started }])),
  };
}

/**
 * Writes the accepted uploads in one statement, once it holds the jobs they update and has
 * found them as they were `read`, their trackers locked before (`trackersThenJobs`): their jobs (made for runs of the agent's own
 * schedule, or started and sized), their chunks and their outbox rows (each upload as the agent
 * sent it, with the hub's acceptance), in batch order (`seq` then orders one tracker's results
 * as they arrived), and then the `scan-started` events of the jobs they started, if any, with
 * their counts. Returns their messages, each payload serialized once, for the stream.
 */
async function writeAccepted(q: Queryable, accepted: readonly Accepted[], read: UploadBatchState['jobs'], events?: PreparedEvents): Promise<OutboxUpload[]> {
  // Jobs in id order, as they were locked: two replicas given the same new runs never wait on each other in a cycle.
  const inserts = accepted.flatMap((d) => ('insert' in d.job ? [d.job.insert] : [])).sort(byId);
  const updates = accepted.flatMap((d) => ('update' in d.job ? [{ ...d.job.update, startNow: d.job.startNow, reopen: d.job.reopen }] : [])).sort(byId);
  const uploads = accepted.map(({ upload }) => ({ ...upload, payloadJson: JSON.stringify(upload.payload) }));
  await queryPrepared(
    q,
    `WITH ${trackersThenJobs(8, 6)}, new_jobs AS (
       INSERT INTO scan_jobs (id, tracker_id, device_id, site, trigger, agent_id, status, requested_at, started_at, chunk_count, hosts_planned, probes_planned)
       SELECT v.id, v.tracker_id, v.device_id, NULL, v.trigger, v.agent_id, 'running', v.started_at, v.started_at, 1, v.hosts, v.probes
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, tracker_id uuid, device_id uuid, trigger text, agent_id uuid, started_at timestamptz, hosts int, probes int)
        WHERE ${UNCHANGED}
       RETURNING id
     ), sized_jobs AS (
       UPDATE scan_jobs j SET status = CASE WHEN v.start_now OR v.reopen THEN 'running' ELSE j.status END,
              started_at = CASE WHEN v.start_now THEN v.started_at ELSE coalesce(j.started_at, v.started_at) END,
              finished_at = CASE WHEN v.reopen THEN NULL ELSE j.finished_at END, duration_ms = CASE WHEN v.reopen THEN NULL ELSE j.duration_ms END,
              error = CASE WHEN v.reopen THEN NULL ELSE j.error END,
              chunk_count = 1, hosts_planned = v.hosts, probes_planned = v.probes
         FROM jsonb_to_recordset($2::jsonb) AS v(id uuid, start_now boolean, reopen boolean, started_at timestamptz, hosts int, probes int)
        WHERE j.id = v.id AND j.id = ANY($6::uuid[]) AND ${UNCHANGED}
       RETURNING j.id
     ), chunks AS (
       INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, progress, hosts_done, worker, queued_at, started_at, deadline, published_at)
       SELECT v.id, v.job_id, 0, v.targets, v.hosts, v.probes, 'running', 0, 0, v.worker, v.started_at, v.started_at, $3, now()
         FROM jsonb_to_recordset($4::jsonb) AS v(id uuid, job_id uuid, targets jsonb, hosts int, probes int, worker text, started_at timestamptz)
        WHERE ${UNCHANGED}
       RETURNING id
     )${events ? `, new_uploads AS (${UPLOADS_INSERT} RETURNING id), ${events.sql(9, AFTER_UPLOADS)}` : ` ${UPLOADS_INSERT}`}`,
    [
      JSON.stringify(inserts.map((j) => ({ id: j.id, tracker_id: j.trackerId, device_id: j.deviceId, trigger: j.trigger, agent_id: j.agentId, started_at: j.startedAt, hosts: j.hosts, probes: j.probes }))),
      JSON.stringify(updates.map((j) => ({ id: j.id, start_now: j.startNow, reopen: j.reopen, started_at: j.startedAt, hosts: j.hosts, probes: j.probes }))),
      new Date(Date.now() + RESULT_DEADLINE_MS),
      JSON.stringify(accepted.map(({ chunk: c }) => ({ id: c.id, job_id: c.jobId, targets: c.targets, hosts: c.hosts, probes: c.probes, worker: c.worker, started_at: c.startedAt }))),
      JSON.stringify(uploads.map((u) => ({ id: u.id, agent_id: u.agentId, idempotency_key: u.idempotencyKey, job_id: u.jobId, tracker_id: u.trackerId, kind: u.kind, body: u.bodyGzip.toString('base64'), acceptance: u.acceptance }))),
      // The jobs the hub had: each decision rests on its status as read.
      ...unchangedParams(updates.map((j) => j.id), read),
      [...new Set(accepted.map((d) => d.upload.trackerId))],
      ...(events?.params ?? []),
    ],
  );
  return uploads;
}
