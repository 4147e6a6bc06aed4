import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { AgentResult, AgentResultResponse, AgentScanStarted, DomainError } from '@portolan/contracts';
import { ScanJobEntity, TrackerEntity } from '@portolan/persistence';
import { DATA_SOURCE, EventRecorder } from '@portolan/platform';
import { AuthenticatedAgent } from './agent.directory';
import { scanStartedEvent } from './upload-batch.plan';
import { onceMoreIfRaced, UploadIngest } from './upload.ingest';

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{8,128}$/;

/**
 * Accepts what agents report about their runs: that a run started (its job and `scan-started`
 * event), and its result, which `UploadIngest` stores, checked against the tracker the agent
 * owns, with its job, its one chunk, its idempotency record and the result message (the
 * outbox). A replayed upload (same Idempotency-Key) finds its record and changes nothing.
 */
@Injectable()
export class AgentResultsService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly events: EventRecorder,
    private readonly ingest: UploadIngest,
  ) {}

  /** The run started: its job (made here for the agent's own schedule) and the `scan-started` event. */
  async started(agent: AuthenticatedAgent, report: AgentScanStarted): Promise<{ jobId: string }> {
    const rows = await onceMoreIfRaced(() =>
      this.db.transaction(async (manager) => {
        const tracker = await this.ownedTracker(manager, agent, report.trackerId);
        const job = await this.startJob(manager, agent, tracker, report.jobId, report.trigger, new Date(report.startedAt));
        return job.isNew ? this.events.insert(manager, [scanStartedEvent(agent, tracker.deviceId, tracker.id, report.jobId, report.trigger, new Date(report.startedAt))]) : [];
      }),
    );
    await this.events.announce(rows);
    return { jobId: report.jobId };
  }

  /** A result upload, stored with group commit (`UploadIngest`); a replay answers `duplicate: true`. */
  async accept(agent: AuthenticatedAgent, idempotencyKey: string | undefined, result: AgentResult): Promise<AgentResultResponse> {
    if (!idempotencyKey || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new DomainError('invalid_payload', 'the Idempotency-Key header is required: 8 to 128 letters, digits, "-" or "_"', { field: 'Idempotency-Key' });
    }
    return this.ingest.accept({ agent, idempotencyKey, result });
  }

  private async ownedTracker(manager: EntityManager, agent: AuthenticatedAgent, trackerId: string): Promise<TrackerEntity> {
    const tracker = await manager.findOneBy(TrackerEntity, { id: trackerId });
    if (!tracker || tracker.agentId !== agent.id) throw new DomainError('not_found', `tracker ${trackerId} is not assigned to agent ${agent.id}`, { field: 'trackerId' });
    return tracker;
  }

  /** The job of this run, made if the agent started it on its own schedule; locked for the caller. */
  private async startJob(manager: EntityManager, agent: AuthenticatedAgent, tracker: TrackerEntity, jobId: string, trigger: AgentScanStarted['trigger'], startedAt: Date) {
    const existing = await manager.getRepository(ScanJobEntity).findOne({ where: { id: jobId }, lock: { mode: 'pessimistic_write' } });
    if (existing) {
      if (existing.agentId !== agent.id || existing.trackerId !== tracker.id) throw new DomainError('conflict', `job ${jobId} belongs to another agent or tracker`, { field: 'jobId' });
      const startedNow = existing.status === 'pending' || existing.status === 'queued';
      if (startedNow) await manager.update(ScanJobEntity, jobId, { status: 'running', startedAt });
      return { isNew: startedNow };
    }
    await manager.insert(ScanJobEntity, {
      id: jobId,
      trackerId: tracker.id,
      deviceId: tracker.deviceId,
      site: null,
      trigger,
      agentId: agent.id,
      status: 'running',
      requestedAt: startedAt,
      startedAt,
    });
    return { isNew: true };
  }
}

