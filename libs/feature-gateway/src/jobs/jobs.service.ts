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

export interface JobView {
  id: string;
  trackerId: string;
  deviceId: string;
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
  /** `held`: a paced run's chunks waiting their turn (its chunks are scanned one at a time). */
  chunks: { total: number; done: number; failed: number; running: number; held: number };
  requestedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  error: string | null;
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

function view(job: ScanJobEntity, chunks: ScanChunkEntity[]): JobView {
  const finished = FINISHED.includes(job.status);
  const probes = chunks.reduce((sum, c) => sum + c.probeCount, 0);
  // Probe-weighted progress of the chunks; settled chunks count as complete.
  const weighted = chunks.reduce((sum, c) => sum + c.probeCount * (c.status === 'done' || c.status === 'failed' ? 100 : c.progress), 0);
  return {
    id: job.id,
    trackerId: job.trackerId,
    deviceId: job.deviceId,
    site: job.site,
    trigger: job.trigger,
    probe: job.probe ?? null,
    status: job.status,
    // An agent run has its one chunk once its result came; until then, the progress the agent reported.
    progressPercent: finished ? 100 : probes > 0 ? Math.round((weighted / probes) * 10) / 10 : Math.round(job.progress * 10) / 10,
    progressAt: job.progressAt,
    hosts: { planned: job.hostsPlanned, done: job.hostsDone, up: job.hostsUp },
    probes: { planned: job.probesPlanned, done: job.probesDone },
    chunks: { total: job.chunkCount, done: job.chunksDone, failed: job.chunksFailed, running: chunks.filter((c) => c.status === 'running').length, held: chunks.filter((c) => c.held).length },
    requestedAt: job.requestedAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    durationMs: job.durationMs,
    error: job.error,
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
