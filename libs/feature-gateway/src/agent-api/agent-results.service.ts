import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AgentResult, AgentResultResponse, AgentScanStarted, DomainError, ScanCompleted, ScanFailed } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentUploadEntity, DeviceEntity, ScanChunkEntity, ScanJobEntity, TrackerEntity } from '@portolan/persistence';
import { AgentUploadOutbox, DATA_SOURCE, EventRecorder, LOGGER, NewEvent } from '@portolan/platform';
import { countPorts, intersectPortSets } from '@portolan/targets';
import { AuthenticatedAgent } from './agent.directory';

/** A started agent run that sends no result within this time is failed by the scheduler. */
const RESULT_DEADLINE_MS = 10 * 60_000;

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{8,128}$/;
/** Postgres (and PGlite) SQLSTATE of a unique constraint violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Accepts what agents report about their runs. A result upload is validated, checked against
 * the tracker the agent owns, and stored in one transaction with its job, its one chunk, its
 * idempotency record and the result message (the outbox); the message is published after the
 * commit. A replayed upload (same Idempotency-Key) finds its record and changes nothing.
 */
@Injectable()
export class AgentResultsService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly outbox: AgentUploadOutbox,
  ) {}

  /** The run started: its job (made here for the agent's own schedule) and the `scan-started` event. */
  async started(agent: AuthenticatedAgent, report: AgentScanStarted): Promise<{ jobId: string }> {
    const rows = await onceMoreIfRaced(() =>
      this.db.transaction(async (manager) => {
        const tracker = await this.ownedTracker(manager, agent, report.trackerId);
        const job = await this.startJob(manager, agent, tracker, report.jobId, report.trigger, new Date(report.startedAt));
        return job.isNew ? this.events.insert(manager, [startedEvent(agent, tracker, report.jobId, report.trigger, new Date(report.startedAt))]) : [];
      }),
    );
    await this.events.announce(rows);
    return { jobId: report.jobId };
  }

  async accept(agent: AuthenticatedAgent, idempotencyKey: string | undefined, result: AgentResult): Promise<AgentResultResponse> {
    if (!idempotencyKey || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new DomainError('invalid_payload', 'the Idempotency-Key header is required: 8 to 128 letters, digits, "-" or "_"', { field: 'Idempotency-Key' });
    }
    const accepted = await onceMoreIfRaced(() =>
      this.db.transaction(async (manager) => {
        const earlier = await manager.findOneBy(AgentUploadEntity, { agentId: agent.id, idempotencyKey });
        if (earlier) return { duplicate: true as const, jobId: earlier.jobId };
        const tracker = await this.ownedTracker(manager, agent, result.trackerId);
        const device = await manager.findOneByOrFail(DeviceEntity, { id: tracker.deviceId });
        const startedAt = new Date(result.startedAt);
        const job = await this.startJob(manager, agent, tracker, result.jobId, result.trigger, startedAt);
        if (job.hasResult) {
          // The same upload may have committed while this one waited for the job's lock.
          const same = await manager.findOneBy(AgentUploadEntity, { agentId: agent.id, idempotencyKey });
          if (same) return { duplicate: true as const, jobId: same.jobId };
          throw new DomainError('conflict', `job ${result.jobId} already has a result; a new run needs a new job id`, { field: 'jobId' });
        }
        const coverage = intersectPortSets(result.coverage.ports, tracker.portSet);
        const hosts = tracker.mode === 'self' ? selfHost(result, device) : result.hosts;
        const chunkId = randomUUID();
        const hostCount = tracker.mode === 'self' ? 1 : Math.max(1, hosts.length);
        await manager.insert(ScanChunkEntity, {
          id: chunkId,
          jobId: result.jobId,
          index: 0,
          targets: hosts.map((h) => h.address).slice(0, 4096),
          hostCount,
          probeCount: hostCount * countPorts(coverage).total,
          status: 'running',
          progress: 0,
          hostsDone: 0,
          worker: `agent:${agent.name}`,
          queuedAt: startedAt,
          startedAt,
          deadline: new Date(Date.now() + RESULT_DEADLINE_MS),
          publishedAt: new Date(),
        });
        await manager.update(ScanJobEntity, result.jobId, { chunkCount: 1, hostsPlanned: hostCount, probesPlanned: hostCount * countPorts(coverage).total });
        const worker = `agent:${agent.name}`.slice(0, 128);
        const payload: ScanCompleted | ScanFailed =
          result.status === 'completed'
            ? {
                jobId: result.jobId,
                chunkId,
                trackerId: tracker.id,
                deviceId: tracker.deviceId,
                worker,
                engine: result.engine,
                engineVersion: result.engineVersion,
                args: result.args,
                startedAt: result.startedAt,
                finishedAt: result.finishedAt,
                durationMs: Date.parse(result.finishedAt) - Date.parse(result.startedAt),
                coverage: { ports: coverage },
                hosts,
              }
            : { jobId: result.jobId, chunkId, trackerId: tracker.id, deviceId: tracker.deviceId, worker, startedAt: result.startedAt, failedAt: result.finishedAt, error: result.error! };
        const upload = Object.assign(new AgentUploadEntity(), {
          id: randomUUID(),
          agentId: agent.id,
          idempotencyKey,
          jobId: result.jobId,
          trackerId: tracker.id,
          kind: result.status,
          payload: payload as unknown as Record<string, unknown>,
          receivedAt: new Date(),
          publishedAt: null,
          appliedAt: null,
        });
        await manager.insert(AgentUploadEntity, upload as QueryDeepPartialEntity<AgentUploadEntity>);
        const events = job.isNew ? await this.events.insert(manager, [startedEvent(agent, tracker, result.jobId, result.trigger, startedAt)]) : [];
        return { duplicate: false as const, jobId: result.jobId, upload, events };
      }),
    );
    if (accepted.duplicate) {
      this.logger.info({ agentId: agent.id, jobId: accepted.jobId }, 'replayed agent upload; already accepted');
      return { jobId: accepted.jobId, duplicate: true };
    }
    await this.events.announce(accepted.events);
    await this.outbox.publish([accepted.upload]);
    this.logger.info({ agentId: agent.id, jobId: accepted.jobId, trackerId: result.trackerId, status: result.status, hosts: result.hosts.length }, 'agent result accepted');
    return { jobId: accepted.jobId, duplicate: false };
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
      const hasResult = (await manager.countBy(AgentUploadEntity, { jobId })) > 0;
      const startedNow = existing.status === 'pending' || existing.status === 'queued';
      if (startedNow) await manager.update(ScanJobEntity, jobId, { status: 'running', startedAt });
      return { isNew: startedNow, hasResult };
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
    return { isNew: true, hasResult: false };
  }
}

/**
 * Runs `work` (one transaction) again once if it lost a race on a unique key: two copies of one
 * upload or scan report at the same time (an agent retrying after a timeout) both find no job
 * and no upload, and the second insert fails. Run again, it finds what the first committed and
 * answers as for any replay, instead of a 500.
 */
async function onceMoreIfRaced<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof QueryFailedError) || (error.driverError as { code?: string } | undefined)?.code !== UNIQUE_VIOLATION) throw error;
    return work();
  }
}

/** A self-scan observes exactly the agent's own host, under the device's address. */
function selfHost(result: AgentResult, device: DeviceEntity): AgentResult['hosts'] {
  if (result.status === 'failed') return [];
  if (result.hosts.length !== 1) throw new DomainError('invalid_payload', `a self-scan result has exactly one host; this one has ${result.hosts.length}`, { field: 'hosts' });
  return [{ ...result.hosts[0], address: device.address, state: 'up' }];
}

function startedEvent(agent: AuthenticatedAgent, tracker: TrackerEntity, jobId: string, trigger: string, startedAt: Date): NewEvent {
  return {
    kind: 'communications',
    deviceId: tracker.deviceId,
    trackerId: tracker.id,
    jobId,
    occurredAt: startedAt,
    details: { what: 'scan-started', agentId: agent.id, agent: agent.name, trigger, startedAt: startedAt.toISOString() },
  };
}
