import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { Bus } from '@portolan/bus';
import { DomainError, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanChunkEntity, ScanJobEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { audit, AuditCaller } from '../audit/audit.log';
import { ActorSchema } from '../http/actor';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';

/** A job as `GET /jobs` lists it: without its chunks. */
export interface JobSummary {
  id: string;
  trackerId: string;
  deviceId: string;
  /** The agent that runs it; null for the hub's scanner workers and collectors. */
  agentId: string | null;
  site: string | null;
  trigger: string;
  /** A re-probe's narrower target (the hosts and ports it looked at again). */
  probe: ScanJobEntity['probe'];
  status: string;
  progressPercent: number;
  /** When an agent last reported the progress of its run (remote and network scans), else null. */
  progressAt: Date | null;
  hosts: { planned: number; done: number; up: number };
  probes: { planned: number; done: number };
  chunks: { total: number; done: number; failed: number };
  requestedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  error: string | null;
  /** When an operator cancelled it (`POST /jobs/:id/cancel`; `error` says by whom and why), else null. */
  cancelledAt: Date | null;
}

/** A job as `GET /jobs/:id` shows it: with its chunks (`scans`). */
export interface JobView extends JobSummary {
  /** `held`: a paced run's chunks waiting their turn (its chunks are scanned one at a time). */
  chunks: JobSummary['chunks'] & { running: number; held: number };
  scans: { index: number; status: string; held: boolean; progress: number; hosts: number; worker: string | null; engine: string | null; engineVersion: string | null; args: string[] | null; error: string | null }[];
}

export const CancelJobSchema = z
  .object({
    /** Why, for the job's error, its event and the audit log. */
    reason: z.string().trim().min(1).max(500).optional(),
    actor: ActorSchema.optional(),
  })
  .strict();
export type CancelJob = z.infer<typeof CancelJobSchema>;

const FINISHED = ['succeeded', 'partial', 'failed'];
const STATUSES = ['pending', 'queued', 'running', 'succeeded', 'partial', 'failed'] as const;

/** `status=`: some of `STATUSES`, comma-separated; `open` stands for pending, queued and running. */
const StatusListSchema = z
  .string()
  .max(200)
  .transform((text, ctx) => {
    const statuses = new Set<string>();
    for (const word of text.split(',').map((w) => w.trim())) {
      if (word === 'open') ['pending', 'queued', 'running'].forEach((s) => statuses.add(s));
      else if ((STATUSES as readonly string[]).includes(word)) statuses.add(word);
      else {
        ctx.addIssue({ code: 'custom', message: `"${word}" is not a job status (${STATUSES.join(', ')}, or open)` });
        return z.NEVER;
      }
    }
    return [...statuses];
  });

export const ListJobsQuerySchema = z
  .object({
    status: StatusListSchema.optional(),
    trackerId: z.uuid().optional(),
    /** Requested at or after. */
    since: z.iso.datetime({ offset: true }).optional(),
    /** Requested before. */
    until: z.iso.datetime({ offset: true }).optional(),
    limit: LimitSchema(500, 100),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ListJobsQuery = z.infer<typeof ListJobsQuerySchema>;

/** Scan jobs as operators see them (`GET /jobs/:id`), and their cancelling. */
@Injectable()
export class JobsService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
  ) {}

  /**
   * Jobs newest first (by when they were requested), filtered, in pages of `limit` that follow
   * `nextCursor`: the scans under way (`status=open`) to pick one to cancel, a tracker's runs,
   * those that failed. Each without its chunks (`get` has them). Jobs are many (an agent's upload
   * each): indexes serve the open statuses, a tracker and when requested; the finished statuses
   * are found walking back from the newest (bound them with `since`).
   */
  async list(query: ListJobsQuery): Promise<Page<JobSummary>> {
    const q = this.db.getRepository(ScanJobEntity).createQueryBuilder('j').orderBy('j.requestedAt', 'DESC').addOrderBy('j.id', 'DESC').limit(query.limit + 1);
    if (query.status) q.andWhere('j.status IN (:...statuses)', { statuses: query.status });
    if (query.trackerId) q.andWhere('j.trackerId = :trackerId', { trackerId: query.trackerId });
    if (query.since) q.andWhere('j.requestedAt >= :since', { since: new Date(query.since) });
    if (query.until) q.andWhere('j.requestedAt < :until', { until: new Date(query.until) });
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      q.andWhere('(j.requestedAt, j.id) < (:afterAt, :afterId)', { afterAt: after.at, afterId: after.id });
    }
    const page = pageOf(await q.getMany(), query.limit, (job) => job.requestedAt);
    return { items: page.items.map(summary), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<JobView> {
    const job = await this.db.getRepository(ScanJobEntity).findOneBy({ id });
    if (!job) throw new DomainError('not_found', `job ${id} does not exist`);
    const chunks = await this.db.getRepository(ScanChunkEntity).find({ where: { jobId: id }, order: { index: 'ASC' } });
    return view(job, chunks);
  }

  /**
   * Stops a scanner or collector job under way, or not started yet: its chunks not done fail as
   * cancelled (those done keep their results: the job is then `partial`), with its `scan-failed`
   * or `scan-finished` event saying why, and a line in the audit log. The workers stop the scans
   * of it they are running (nmap killed) and pass over its chunks still queued; one that missed
   * the word is told again when it reports progress (the scheduler). A run of an agent is
   * cancelled only before the agent is handed it (`pending`): an agent runs what it is handed to
   * the end.
   */
  async cancel(id: string, body: CancelJob, caller: AuditCaller): Promise<JobView> {
    const actor = body.actor ?? caller.name;
    const { reason, events } = await this.db.transaction(async (manager) => {
      const job = await this.ledger.lockJob(manager, id);
      if (!job) throw new DomainError('not_found', `job ${id} does not exist`);
      if (FINISHED.includes(job.status)) throw new DomainError('conflict', `job ${id} has finished already (${job.status}); there is nothing to cancel`, { status: job.status });
      if (job.agentId && job.status !== 'pending') {
        const [agent]: { name: string }[] = await manager.query('SELECT name FROM agents WHERE id = $1', [job.agentId]);
        throw new DomainError(
          'conflict',
          `job ${id} was handed to agent "${agent?.name ?? job.agentId}" already, which runs the runs it is handed to the end; disable the tracker to stop its next runs`,
          { agentId: job.agentId, status: job.status },
        );
      }
      const was = job.status;
      const cancelled = await this.ledger.cancelJob(manager, job, actor, body.reason, new Date());
      await audit(manager, caller, body.actor, 'job.cancelled', id, body.reason ?? null, { trackerId: job.trackerId, deviceId: job.deviceId, trigger: job.trigger, was, now: job.status }, 'scan-job');
      return cancelled;
    });
    try {
      this.bus.emit(Messages.jobCancelled, { jobId: id, reason });
    } catch (error) {
      // The workers hear of it when they next report progress on one of its chunks (the scheduler tells them).
      this.logger.warn({ jobId: id, err: String(error) }, 'could not tell the workers a job was cancelled');
    }
    // Committed already: an announcement lost here is made by the scheduler's leader (`announceUnannounced`).
    await this.events.announce(events).catch((error: unknown) => this.logger.warn({ jobId: id, err: String(error) }, 'job cancelled, its event not announced; the scheduler will'));
    this.logger.info({ jobId: id, actor }, 'job cancelled');
    return this.get(id);
  }
}

/**
 * A job without its chunks; its progress, unless given, the probes of its chunks done, or for an
 * agent's run before its result, the progress the agent reported.
 */
function summary(job: ScanJobEntity, progress = job.agentId === null && job.probesPlanned > 0 ? (job.probesDone / job.probesPlanned) * 100 : job.progress): JobSummary {
  return {
    id: job.id,
    trackerId: job.trackerId,
    deviceId: job.deviceId,
    agentId: job.agentId,
    site: job.site,
    trigger: job.trigger,
    probe: job.probe ?? null,
    status: job.status,
    progressPercent: FINISHED.includes(job.status) ? 100 : Math.round(progress * 10) / 10,
    progressAt: job.progressAt,
    hosts: { planned: job.hostsPlanned, done: job.hostsDone, up: job.hostsUp },
    probes: { planned: job.probesPlanned, done: job.probesDone },
    chunks: { total: job.chunkCount, done: job.chunksDone, failed: job.chunksFailed },
    requestedAt: job.requestedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    durationMs: job.durationMs,
    error: job.error,
    cancelledAt: job.cancelledAt,
  };
}

/** A job with its chunks: its progress weighted by their probes, a chunk being scanned counting with its own progress. */
function view(job: ScanJobEntity, chunks: ScanChunkEntity[]): JobView {
  const probes = chunks.reduce((sum, c) => sum + c.probeCount, 0);
  const weighted = chunks.reduce((sum, c) => sum + c.probeCount * (c.status === 'done' || c.status === 'failed' ? 100 : c.progress), 0);
  // An agent run has its one chunk once its result came; until then, the progress the agent reported.
  const base = summary(job, probes > 0 ? weighted / probes : job.progress);
  return {
    ...base,
    chunks: { ...base.chunks, running: chunks.filter((c) => c.status === 'running').length, held: chunks.filter((c) => c.held).length },
    scans: chunks.map((c) => ({
      index: c.index,
      status: c.status,
      held: c.held,
      progress: c.status === 'done' ? 100 : c.progress,
      hosts: c.hostCount,
      worker: c.worker,
      engine: c.engine,
      engineVersion: c.engineVersion,
      args: c.args,
      error: c.error,
    })),
  };
}
