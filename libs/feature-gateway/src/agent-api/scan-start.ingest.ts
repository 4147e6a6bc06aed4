import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Logger } from '@portolan/logging';
import { EventEntity, queryPrepared } from '@portolan/persistence';
import { BatchAnswer, DATA_SOURCE, EventRecorder, LOGGER, MicroBatcher, PendingSentMarks } from '@portolan/platform';
import { planScanStarts, ScanStartDecision, ScanStartRequest } from './upload-batch.plan';
import { BackgroundSends, byId, commitEach, commitOptimistically, submitOrBusy, trackersThenJobs, UNCHANGED, unchangedParams } from './group-commit';
import { readBatchState } from './upload.ingest';

/** As for uploads: one batch at a time, what arrives meanwhile makes the next one bigger, and under load it waits 2 ms for more (whole runs at C=64: 0.345 → 0.304 ms of gateway CPU a run, 1,538 → 1,727 runs/s). */
const BATCH = { maxBatch: 500, concurrency: 1, maxQueued: 10_000, gatherMs: 2 };
/** Committed batches whose events may be in flight at once; the next batch waits for one of them. */
const MAX_ANNOUNCING = 4;

/** What the batch's events and counts are written after (`EventRecorder.prepare`): its trackers' and jobs' locks, and its jobs (`trackersThenJobs`). */
const AFTER_JOBS = ['tracker_locks', 'unchanged', 'new_jobs', 'started_jobs'];

type Started = Extract<ScanStartDecision, { kind: 'started' }>;

/**
 * Stores scan-start reports (`POST /api/agent/scans`, sent by an agent as each run begins) with
 * group commit, like result uploads: the reports that arrive while a batch is written go into
 * the next one, two statements whatever its size (`commitOptimistically`: read the trackers and
 * jobs; check the jobs unchanged, insert and start them, then their `scan-started` events with
 * their counts). Each report is decided on its own (`planScanStarts`); the events are announced
 * after the commit.
 */
@Injectable()
export class ScanStartIngest implements OnModuleDestroy {
  private readonly batcher = new MicroBatcher<ScanStartRequest, { jobId: string }>((requests) => this.writeBatch(requests), BATCH);
  /** Committed batches whose events are being announced (then marked, a few times a second). */
  private readonly announcing: BackgroundSends;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
  ) {
    const marks = new PendingSentMarks(db, (error) => this.logger.warn({ err: String(error) }, 'could not mark scan-started events announced; the leader will announce them again'));
    this.announcing = new BackgroundSends(MAX_ANNOUNCING, marks);
  }

  accept(request: ScanStartRequest): Promise<{ jobId: string }> {
    return submitOrBusy(this.batcher, request, 'scan-start reports');
  }

  async onModuleDestroy(): Promise<void> {
    await this.batcher.idle();
    await this.announcing.idle();
  }

  private async writeBatch(requests: readonly ScanStartRequest[]): Promise<BatchAnswer<{ jobId: string }>[]> {
    await this.announcing.room();
    return commitEach(
      requests,
      (batch) => this.commit(batch),
      (batch, { decisions, events }) => {
        this.afterCommit(batch, decisions, events);
        return decisions.map((d, i) => (d.kind === 'refused' ? d.error : { jobId: batch[i].report.jobId }));
      },
      this.logger,
      'scan-start reports',
    );
  }

  private commit(requests: readonly ScanStartRequest[]): Promise<{ decisions: ScanStartDecision[]; events: EventEntity[] }> {
    return commitOptimistically(this.db, async (q, lock) => {
      const state = await readBatchState(q, { keys: [], trackerIds: requests.map((r) => r.report.trackerId), jobIds: requests.map((r) => r.report.jobId) }, lock);
      const decisions = planScanStarts(requests, state);
      const started = decisions.filter((d): d is Started => d.kind === 'started');
      if (!started.length) return { decisions, events: [] };
      // In id order, as the jobs were locked: two replicas given the same new runs never wait on each other in a cycle.
      const inserts = started.flatMap((d) => ('insert' in d.job ? [d.job.insert] : [])).sort(byId);
      const updates = started.flatMap((d) => ('update' in d.job ? [d.job.update] : [])).sort(byId);
      const events = this.events.prepare(started.map((d) => d.event));
      await queryPrepared(
        q,
        `WITH ${trackersThenJobs(5, 3)}, new_jobs AS (
           INSERT INTO scan_jobs (id, tracker_id, device_id, site, trigger, agent_id, status, requested_at, started_at, claimed_boot)
           SELECT v.id, v.tracker_id, v.device_id, NULL, v.trigger, v.agent_id, 'running', v.started_at, v.started_at, v.boot
             FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, tracker_id uuid, device_id uuid, trigger text, agent_id uuid, started_at timestamptz, boot uuid)
            WHERE ${UNCHANGED}
           RETURNING id
         ), started_jobs AS (
           UPDATE scan_jobs j SET status = 'running', started_at = v.started_at, claimed_boot = coalesce(v.boot, j.claimed_boot)
             FROM jsonb_to_recordset($2::jsonb) AS v(id uuid, started_at timestamptz, boot uuid) WHERE j.id = v.id AND j.id = ANY($3::uuid[]) AND ${UNCHANGED}
           RETURNING j.id
         ), ${events.sql(6, AFTER_JOBS)}`,
        [
          JSON.stringify(inserts.map((j) => ({ id: j.id, tracker_id: j.trackerId, device_id: j.deviceId, trigger: j.trigger, agent_id: j.agentId, started_at: j.startedAt, boot: j.boot }))),
          JSON.stringify(updates.map((j) => ({ id: j.id, started_at: j.startedAt, boot: j.boot }))),
          // The jobs the hub asked for: each is started because it was pending or queued when read.
          ...unchangedParams(updates.map((j) => j.id), state.jobs),
          [...new Set(started.map((d) => d.event.trackerId))],
          ...events.params,
        ],
      );
      return { decisions, events: events.rows };
    }, this.logger, 'scan-start reports');
  }

  private afterCommit(requests: readonly ScanStartRequest[], decisions: readonly ScanStartDecision[], events: EventEntity[]): void {
    decisions.forEach((d, i) => {
      const { agent, report } = requests[i];
      if (d.kind === 'refused') this.logger.info({ agentId: agent.id, jobId: report.jobId, code: d.error.code, reason: d.error.message }, 'agent scan start refused');
      else this.logger.debug({ agentId: agent.id, jobId: report.jobId, trackerId: report.trackerId, known: d.kind === 'known' }, 'agent scan started');
    });
    if (!events.length) return;
    this.announcing.add(
      this.events
        .publish(events)
        .then((announced) => ({ events: announced }))
        .catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not announce scan-started events; the leader will')),
    );
  }
}
