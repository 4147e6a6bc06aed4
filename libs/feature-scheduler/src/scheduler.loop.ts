import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource, EntityManager, IsNull, LessThan } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages, WorkerFeatures } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ensureEventPartitions, ScanChunkEntity, ScanJobEntity, TrackerEntity } from '@portolan/persistence';
import { AgentUploadOutbox, BUS, CHUNK_TIMED_OUT, DATA_SOURCE, EventRecorder, LOGGER, NewEvent, ScanJobLedger } from '@portolan/platform';
import { nextRunAfter, Schedule } from '@portolan/schedule';
import { AgentLiveness } from './agent.liveness';
import { ChunkDispatcher } from './chunk.dispatcher';
import { LeaderLease } from './leader.lease';
import { QueueWatch } from './queue.watch';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';
import { staffWords, WorkerRegistry } from './worker.registry';

const LEASE = 'scheduler';
const DUE_BATCH = 100;
/** A run still pending this long after it was asked for has lost its request. */
const PENDING_GRACE_MS = 30_000;
/** How often the leader checks that the events table has its monthly partitions ahead. */
const PARTITIONS_EVERY_MS = 3_600_000;
/** Months of event partitions kept ready ahead of now. */
const PARTITION_MONTHS_AHEAD = 3;

/**
 * The scheduler's clock: while it holds the leader lease, each tick starts the trackers that
 * are due and fails chunks whose deadline passed without a result (lost worker, no worker at
 * the site), which finishes their job.
 */
@Injectable()
export class SchedulerLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private leading = false;
  private partitionsCheckedAt = 0;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    private readonly lease: LeaderLease,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
    private readonly dispatcher: ChunkDispatcher,
    private readonly agents: AgentLiveness,
    private readonly uploads: AgentUploadOutbox,
    private readonly queue: QueueWatch,
    private readonly workers: WorkerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.tick().finally(() => (this.running = undefined));
    }, this.config.tickMs);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.leading) await this.lease.release(LEASE).catch(() => undefined);
  }

  async tick(now = new Date()): Promise<void> {
    const startedAt = Date.now();
    const leaseMs = Math.max(15_000, this.config.tickMs * 5);
    try {
      const leading = await this.lease.acquire(LEASE, leaseMs);
      if (leading !== this.leading) this.logger.info({ holder: this.lease.holder }, leading ? 'scheduler leads' : 'scheduler stands by');
      this.leading = leading;
      if (!leading) return;
    } catch (error) {
      this.logger.error({ err: String(error) }, 'scheduler tick failed');
      return;
    }
    // Each duty on its own: one that fails every tick (a bad row, a stream that refuses) must not keep the others from running.
    const failed: Record<string, string> = {};
    const duties: [string, () => Promise<unknown>][] = [
      ['start due trackers', () => this.startDueTrackers(now)],
      ['republish pending runs', () => this.republishPendingRuns(now)],
      ['expire lost chunks', () => this.expireLostChunks(now)],
      ["release paced runs' next chunks", () => this.dispatcher.releasePacedTurns(now)],
      ['dispatch unpublished chunks', () => this.dispatcher.dispatchUnpublished(now)],
      ['say which runs no worker at their site can take', () => this.queue.check(now)],
      ['publish unpublished agent results', () => this.uploads.publishUnpublished(now)],
      ['mark silent agents offline', () => this.agents.markOffline(now)],
      ['mark silent workers offline', () => this.workers.markSilentOffline(now)],
      ['judge replaced worker processes', () => this.workers.settleBooks(now)],
      ['clear duplicated agents', () => this.agents.clearDuplicates(now)],
      ['fail unpicked agent runs', () => this.agents.failUnpickedRuns(now)],
      ['fail unfinished agent runs', () => this.agents.failUnfinishedRuns(now)],
      ['retry incomplete agent configurations', () => this.agents.retryIncompleteConfigs()],
      ['announce unannounced events', () => this.events.announceUnannounced(now)],
      ['maintain event partitions', () => this.maintainEventPartitions(now)],
    ];
    for (const [duty, run] of duties) {
      // The lease is renewed at each tick: a tick slowed down (a stream that does not answer) stops before another scheduler may lead.
      if (Date.now() - startedAt > leaseMs / 2) {
        this.logger.warn({ duty, elapsedMs: Date.now() - startedAt }, 'scheduler tick cut short; the rest at the next tick');
        break;
      }
      await run().catch((error: unknown) => (failed[duty] = String(error)));
    }
    if (Object.keys(failed).length) this.logger.error({ failed }, 'scheduler tick failed');
  }

  /** Keeps the events table's monthly partitions a few months ahead (hourly, by the leader). */
  async maintainEventPartitions(now: Date): Promise<string[]> {
    if (now.getTime() - this.partitionsCheckedAt < PARTITIONS_EVERY_MS) return [];
    const ahead = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + PARTITION_MONTHS_AHEAD, 1));
    const created = await this.db.transaction((manager) => ensureEventPartitions(manager, now, ahead));
    this.partitionsCheckedAt = now.getTime();
    if (created.length) this.logger.info({ partitions: created }, 'event partitions created');
    return created;
  }

  /**
   * Creates a job for each due tracker and moves its next run, then asks for the runs. A paced
   * tracker's runs take turns (`ChunkDispatcher.releasePacedTurns`): one still under way when the
   * next is due (a slow pace, a short interval) would have runs pile up behind it, so a repeating
   * schedule's run is skipped then, with a `scan-skipped` communications event.
   */
  async startDueTrackers(now: Date): Promise<number> {
    const { requests, skipped } = await this.db.transaction(async (manager) => {
      const due = await manager
        .getRepository(TrackerEntity)
        .createQueryBuilder('t')
        .where('t.enabled AND t.agent_id IS NULL AND t.next_run_at IS NOT NULL AND t.next_run_at <= :now', { now })
        .orderBy('t.next_run_at')
        .limit(DUE_BATCH)
        .setLock('pessimistic_write')
        .setOnLocked('skip_locked')
        .getMany();
      const busy = await pacedUnderWay(manager, due);
      const created: { jobId: string; trackerId: string }[] = [];
      const passed: NewEvent[] = [];
      for (const tracker of due) {
        const next = nextRunAfter(tracker.schedule as Schedule, tracker.nextRunAt ?? now, now);
        // A run that does not repeat cannot pile up: it waits its turn.
        const under = next ? busy.get(tracker.id) : undefined;
        if (next && under) {
          await manager.update(TrackerEntity, tracker.id, { nextRunAt: next });
          const reason = `the tracker's run ${under} is still under way: a paced tracker's runs take turns (maxRate ${tracker.maxRate}), so this scheduled run was not started; the next is due ${next.toISOString()}`;
          passed.push({ kind: 'communications', deviceId: tracker.deviceId, trackerId: tracker.id, jobId: null, occurredAt: now, details: { what: 'scan-skipped', underWay: under, reason } });
          continue;
        }
        const jobId = randomUUID();
        await manager.insert(ScanJobEntity, { id: jobId, trackerId: tracker.id, deviceId: tracker.deviceId, trigger: 'schedule', status: 'pending', requestedAt: now });
        await manager.update(TrackerEntity, tracker.id, { nextRunAt: next, lastRunAt: now });
        created.push({ jobId, trackerId: tracker.id });
      }
      return { requests: created, skipped: await this.events.insert(manager, passed) };
    });
    await this.events.announce(skipped);
    if (skipped.length) this.logger.warn({ trackers: skipped.length }, 'scheduled runs of paced trackers skipped: their last run is still under way');
    for (const r of requests) {
      await this.bus.publish(Messages.runRequested, { ...r, trigger: 'schedule', requestedAt: now.toISOString() }, { messageId: r.jobId, correlationId: r.jobId });
    }
    if (requests.length) this.logger.info({ runs: requests.length }, 'scheduled runs started');
    return requests.length;
  }

  /**
   * Asks again for runs whose request never reached the scheduler (the job row was committed but
   * the publish failed). The job id is the message id, and planning only takes pending jobs.
   * Runs asked of an agent wait for its poll instead (AgentLiveness times them out).
   */
  async republishPendingRuns(now: Date): Promise<number> {
    const stale = await this.db
      .getRepository(ScanJobEntity)
      .find({ where: { status: 'pending', agentId: IsNull(), requestedAt: LessThan(new Date(now.getTime() - PENDING_GRACE_MS)) }, take: DUE_BATCH });
    for (const job of stale) {
      await this.bus.publish(Messages.runRequested, { jobId: job.id, trackerId: job.trackerId, trigger: job.trigger, requestedAt: job.requestedAt.toISOString() }, { messageId: job.id, correlationId: job.id });
    }
    if (stale.length) this.logger.info({ runs: stale.length }, 'asked again for runs still pending');
    return stale.length;
  }

  /**
   * Fails chunks that no worker finished by their deadline; finishes their jobs. An agent run's
   * chunk is written with its result, stored for good (the upload): it waits for the comparer
   * (stopped, or behind) past its deadline, up to the agent result timeout from its upload.
   * Failed, the chunk would make the comparer pass the result over when it comes to it. A chunk
   * held for its turn (a paced run's) has no deadline of its own until released; when a paced
   * chunk waited its whole queue timeout for a worker, those held behind it fail with it rather
   * than wait as long again, each in turn.
   */
  async expireLostChunks(now: Date): Promise<number> {
    const waitSince = new Date(now.getTime() - this.config.agentResultTimeoutMs);
    const lost: { id: string; job_id: string; untaken: boolean; kind: 'scan' | 'collect'; site: string | null; paced: boolean }[] = await this.db.query(
      `SELECT c.id, c.job_id, c.status = 'queued' AS untaken, c.kind, c.request->>'site' AS site, c.request->>'maxRate' IS NOT NULL AS paced FROM scan_chunks c
        WHERE c.status IN ('queued', 'running') AND c.deadline < $1 AND NOT c.held
          AND NOT EXISTS (SELECT 1 FROM agent_uploads u WHERE u.job_id = c.job_id AND u.applied_at IS NULL AND u.received_at >= $2)
        LIMIT 500`,
      [now, waitSince],
    );
    let expired = 0;
    const staffBySite = new Map<string, Promise<string | undefined>>();
    for (const candidate of lost) {
      // Who is there for a chunk no worker took, as they say now (for its reason), read outside the job's lock.
      const key = `${candidate.kind} ${candidate.site} ${candidate.paced}`;
      if (candidate.untaken && candidate.site !== null && !staffBySite.has(key)) staffBySite.set(key, this.staffNow(candidate.kind, candidate.site, candidate.paced));
      const staffWordsNow = candidate.untaken ? await staffBySite.get(key) : undefined;
      const rows = await this.db.transaction(async (manager) => {
        const job = await this.ledger.lockJob(manager, candidate.job_id);
        const chunk = await manager.findOneBy(ScanChunkEntity, { id: candidate.id });
        if (!job || !chunk) return [];
        const untaken = chunk.status === 'queued';
        const reason = untaken
          ? queuedTooLong(chunk, staffWordsNow)
          : job.agentId
            ? `the result ${chunk.worker ?? 'the agent'} sent was not applied within the agent result timeout`
            : `worker ${chunk.worker ?? '?'} did not finish the chunk before its deadline`;
        if (!(await this.ledger.settleChunk(manager, job, chunk, { finishedAt: now, error: `${CHUNK_TIMED_OUT}${reason}`, timedOut: true }))) return [];
        expired += 1;
        if (untaken) await this.ledger.failHeldBehind(manager, job, chunk, now);
        return this.ledger.finishIfComplete(manager, job, now);
      });
      await this.events.announce(rows);
    }
    if (expired) this.logger.warn({ chunks: expired }, 'chunks timed out');
    return expired;
  }

  /** The workers there now for a kind of chunk at its site, as words; undefined where none has ever said it is there (workers from before presence). */
  private async staffNow(kind: 'scan' | 'collect', site: string, paced: boolean): Promise<string | undefined> {
    const workerKind = kind === 'scan' ? 'scanner' : 'collector';
    const staff = await this.workers.staffOf(workerKind, site, paced ? WorkerFeatures.scanPace : undefined);
    return staff && `now ${staffWords(workerKind, site, staff, paced)}`;
  }
}

/** The paced trackers of `due` with a run still open, and that run's id. */
async function pacedUnderWay(manager: EntityManager, due: readonly TrackerEntity[]): Promise<Map<string, string>> {
  const paced = due.filter((t) => t.maxRate !== null).map((t) => t.id);
  if (!paced.length) return new Map();
  const open: { tracker_id: string; id: string }[] = await manager.query(
    `SELECT DISTINCT ON (tracker_id) tracker_id, id FROM scan_jobs WHERE tracker_id = ANY($1::uuid[]) AND status IN ('pending', 'queued', 'running') ORDER BY tracker_id, requested_at`,
    [paced],
  );
  return new Map(open.map((j) => [j.tracker_id, j.id]));
}

/**
 * Why a chunk no worker took timed out. A paced one went only to the workers that keep to its
 * pace (`ScanRequestedV2Message`): its site may have none (only workers of an older version,
 * which take unpaced chunks alone; `QueueWatch` said so early), or they were all busy.
 */
function queuedTooLong(chunk: Pick<ScanChunkEntity, 'kind' | 'request'>, staffNow: string | undefined): string {
  const there = staffNow ? ` (${staffNow})` : '';
  if (chunk.kind === 'collect') return `no collector picked the collection up before its deadline${there}`;
  const maxRate = chunk.request?.['maxRate'];
  if (typeof maxRate !== 'number') return `no scanner worker picked the chunk up before its deadline${there}`;
  const paced = `no scanner worker that paces its scans picked the chunk up before its deadline (maxRate ${maxRate}${staffNow ? `; ${staffNow}` : ''}); only workers that pace take a paced chunk, those from before scan pacing never do`;
  // Without presence, who was there is a guess.
  return staffNow ? `${paced} (upgrade the site's scanner workers, or clear the tracker's maxRate)` : `${paced}: the site may have none (upgrade its scanner workers, or clear the tracker's maxRate), or they were all busy`;
}
