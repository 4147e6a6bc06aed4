import { AgentResult, AgentScanStarted, DomainError } from '@portolan/contracts';
import { PortSetRecord } from '@portolan/persistence';
import { agentResultMessage, onHubClock } from '@portolan/platform';
import type { NewEvent, OutboxUpload, ResultAcceptance } from '@portolan/platform';
import { countPorts, intersectPortSets } from '@portolan/targets';
import { AgentClock, clockCorrectionMs } from './agent-clock';
import { AuthenticatedAgent } from './agent.directory';

/** One result upload as the request handler passed it on: authenticated, parsed and validated. */
export interface UploadRequest {
  readonly agent: AuthenticatedAgent;
  readonly idempotencyKey: string;
  readonly result: AgentResult;
  /** The upload as the agent sent it (gzip-compressed JSON), which is what is stored. */
  readonly bodyGzip: Buffer;
  /** When the hub received it, and the agent's clock then: the run's times are put on the hub's clock (`clockCorrectionMs`). */
  readonly clock: AgentClock;
}

/** What the database holds that the uploads of one batch refer to (read under the job locks). */
export interface UploadBatchState {
  /** Accepted uploads by `uploadKey(agentId, idempotencyKey)` → their job id. */
  readonly accepted: ReadonlyMap<string, string>;
  readonly trackers: ReadonlyMap<string, { readonly agentId: string | null; readonly deviceId: string; readonly mode: 'network' | 'remote' | 'self'; readonly portSet: PortSetRecord; readonly deviceAddress: string }>;
  /** `started`: the hub has heard the run start (it has a start time). */
  readonly jobs: ReadonlyMap<string, { readonly agentId: string | null; readonly trackerId: string; readonly status: string; readonly hasResult: boolean; readonly started: boolean }>;
}

export interface NewJobRow {
  readonly id: string;
  readonly trackerId: string;
  readonly deviceId: string;
  readonly trigger: AgentResult['trigger'];
  readonly agentId: string;
  readonly startedAt: Date;
  readonly hosts: number;
  readonly probes: number;
}

export interface ChunkRow {
  readonly id: string;
  readonly jobId: string;
  readonly targets: string[];
  readonly hosts: number;
  readonly probes: number;
  readonly worker: string;
  readonly startedAt: Date;
}

/**
 * The outbox row: the idempotency record, the upload as sent with the hub's acceptance (what is
 * stored), and the result message they make (what is published).
 */
export type UploadRow = OutboxUpload & { readonly agentId: string; readonly idempotencyKey: string; readonly trackerId: string; readonly bodyGzip: Buffer; readonly acceptance: ResultAcceptance };

export type UploadDecision =
  | { readonly kind: 'duplicate'; readonly jobId: string }
  | { readonly kind: 'refused'; readonly error: DomainError }
  | {
      readonly kind: 'accepted';
      /**
       * Insert a job (the agent ran on its own schedule), or start and size the one the hub asked
       * for; `reopen`: the hub had failed it for want of a result (a timeout), and here it is, so the
       * job runs again, to be finished by the comparer with it.
       */
      readonly job: { readonly insert: NewJobRow } | { readonly update: NewJobRow; readonly startNow: boolean; readonly reopen: boolean };
      readonly chunk: ChunkRow;
      readonly upload: UploadRow;
      /** The `scan-started` event, when this upload is the first the hub hears of the run. */
      readonly started?: NewEvent;
    };

export const uploadKey = (agentId: string, idempotencyKey: string) => `${agentId}\u0000${idempotencyKey}`;

/** Most targets a chunk row keeps (the full host list is in the result). */
const MAX_CHUNK_TARGETS = 4096;

/**
 * Decides, for each upload of a batch, what to store: pure, given what the database holds. An
 * upload is a replay when its key was accepted before (or earlier in the same batch); it is
 * refused when its tracker is not the agent's, its job belongs elsewhere or already has a
 * result (also from earlier in the batch), or a self-scan does not have exactly one host.
 * Every other upload is accepted with its job, its chunk, its outbox row and, when the hub
 * had not heard of the run, its `scan-started` event.
 */
export function planUploadBatch(requests: readonly UploadRequest[], state: UploadBatchState, newId: () => string): UploadDecision[] {
  const keys = new Map<string, string>(state.accepted);
  const jobsWithResult = new Set<string>();
  return requests.map((request): UploadDecision => {
    const { agent, idempotencyKey, result } = request;
    const key = uploadKey(agent.id, idempotencyKey);
    const earlier = keys.get(key);
    if (earlier) return { kind: 'duplicate', jobId: earlier };
    try {
      const decision = accept(request, state, jobsWithResult, newId);
      keys.set(key, result.jobId);
      jobsWithResult.add(result.jobId);
      return decision;
    } catch (error) {
      if (error instanceof DomainError) return { kind: 'refused', error };
      throw error;
    }
  });
}

/** The tracker (the agent's own) and the job (if the hub has it; the agent's, of that tracker) of a run, or the error that refuses it. */
function ownedRun(agent: AuthenticatedAgent, trackerId: string, jobId: string, state: Pick<UploadBatchState, 'trackers' | 'jobs'>) {
  const tracker = state.trackers.get(trackerId);
  if (!tracker || tracker.agentId !== agent.id) throw new DomainError('not_found', `tracker ${trackerId} is not assigned to agent ${agent.id}`, { field: 'trackerId' });
  const job = state.jobs.get(jobId);
  if (job && (job.agentId !== agent.id || job.trackerId !== trackerId)) throw new DomainError('conflict', `job ${jobId} belongs to another agent or tracker`, { field: 'jobId' });
  return { tracker, job };
}

function accept({ agent, idempotencyKey, result, bodyGzip, clock }: UploadRequest, state: UploadBatchState, jobsWithResult: ReadonlySet<string>, newId: () => string): UploadDecision {
  const { tracker, job } = ownedRun(agent, result.trackerId, result.jobId, state);
  if (job?.hasResult || jobsWithResult.has(result.jobId)) throw new DomainError('conflict', `job ${result.jobId} already has a result; a new run needs a new job id`, { field: 'jobId' });

  const self = tracker.mode === 'self';
  // A self-scan observes exactly the agent's own host (the message names it by the device's address).
  if (self && result.status === 'completed' && result.hosts.length !== 1) {
    throw new DomainError('invalid_payload', `a self-scan result has exactly one host; this one has ${result.hosts.length}`, { field: 'hosts' });
  }
  const correction = clockCorrectionMs(clock, Date.parse(result.finishedAt));
  const acceptance: ResultAcceptance = {
    chunkId: newId(),
    deviceId: tracker.deviceId,
    worker: `agent:${agent.name}`.slice(0, 128),
    coverage: intersectPortSets(result.coverage.ports, tracker.portSet),
    ...(self ? { selfAddress: tracker.deviceAddress } : {}),
    ...(correction ? { clockCorrectionMs: correction } : {}),
  };
  const message = agentResultMessage(result, acceptance);
  // What the run covered: the message's hosts, or for a failed run the hosts it reported (none for a self-scan).
  const hosts = message.kind === 'completed' ? message.payload.hosts : self ? [] : result.hosts;
  const hostCount = self ? 1 : Math.max(1, hosts.length);
  const probes = hostCount * countPorts(acceptance.coverage).total;
  const startedAt = new Date(onHubClock(result.startedAt, correction));
  const row: NewJobRow = { id: result.jobId, trackerId: result.trackerId, deviceId: tracker.deviceId, trigger: result.trigger, agentId: agent.id, startedAt, hosts: hostCount, probes };
  const startNow = !job || job.status === 'pending' || job.status === 'queued';
  const reopen = job?.status === 'failed';
  return {
    kind: 'accepted',
    job: job ? { update: row, startNow, reopen } : { insert: row },
    chunk: { id: acceptance.chunkId, jobId: result.jobId, targets: hosts.slice(0, MAX_CHUNK_TARGETS).map((h) => h.address), hosts: hostCount, probes, worker: acceptance.worker, startedAt },
    upload: { id: newId(), agentId: agent.id, idempotencyKey, jobId: result.jobId, trackerId: result.trackerId, bodyGzip, acceptance, ...message },
    // A run failed before it started (picked up, then a timeout) and reopened by its result starts here too.
    started: startNow || (reopen && !job.started) ? scanStartedEvent(agent, tracker.deviceId, result.trackerId, result.jobId, result.trigger, startedAt, correction) : undefined,
  };
}

/** The `scan-started` communications event of a run, dated on the hub's clock (`clockCorrectionMs` in its details when the agent's was off). */
export function scanStartedEvent(agent: AuthenticatedAgent, deviceId: string, trackerId: string, jobId: string, trigger: string, startedAt: Date, correction: number): NewEvent {
  return {
    kind: 'communications',
    deviceId,
    trackerId,
    jobId,
    occurredAt: startedAt,
    details: { what: 'scan-started', agentId: agent.id, agent: agent.name, trigger, startedAt: startedAt.toISOString(), ...(correction ? { clockCorrectionMs: correction } : {}) },
  };
}

/** One scan-start report as the request handler passed it on: authenticated, parsed and validated. */
export interface ScanStartRequest {
  readonly agent: AuthenticatedAgent;
  readonly report: AgentScanStarted;
  readonly clock: AgentClock;
  /** The process that runs it (its boot header, when a uuid): the leader fails a run whose process was replaced before it sent the result. */
  readonly boot?: string;
}

export type ScanStartDecision =
  | { readonly kind: 'refused'; readonly error: DomainError }
  /** Nothing to write: the run was started before (a retried report, or the hub's job already running). */
  | { readonly kind: 'known' }
  | {
      readonly kind: 'started';
      /** Insert the job (a run of the agent's own schedule), or start the one the hub asked for. */
      readonly job: { readonly insert: Omit<NewJobRow, 'hosts' | 'probes'> & { readonly boot: string | null } } | { readonly update: { readonly id: string; readonly startedAt: Date; readonly boot: string | null } };
      readonly event: NewEvent;
    };

/**
 * Decides, for each scan-start report of a batch, what to store: pure, given the trackers and
 * (locked) jobs the database holds. Refused as an upload would be when the tracker is not the
 * agent's or the job belongs elsewhere; a run not heard of is inserted running, a job the hub
 * asked for (pending or queued) started; either way once, with its `scan-started` event, also
 * when the same run is reported twice in one batch.
 */
export function planScanStarts(requests: readonly ScanStartRequest[], state: Pick<UploadBatchState, 'trackers' | 'jobs'>): ScanStartDecision[] {
  const jobs = new Map(state.jobs);
  return requests.map(({ agent, report, clock, boot = null }): ScanStartDecision => {
    try {
      const { tracker, job } = ownedRun(agent, report.trackerId, report.jobId, { trackers: state.trackers, jobs });
      if (job && job.status !== 'pending' && job.status !== 'queued') return { kind: 'known' };
      const correction = clockCorrectionMs(clock, Date.parse(report.startedAt));
      const startedAt = new Date(onHubClock(report.startedAt, correction));
      jobs.set(report.jobId, { agentId: agent.id, trackerId: report.trackerId, status: 'running', hasResult: job?.hasResult ?? false, started: true });
      return {
        kind: 'started',
        job: job ? { update: { id: report.jobId, startedAt, boot } } : { insert: { id: report.jobId, trackerId: report.trackerId, deviceId: tracker.deviceId, trigger: report.trigger, agentId: agent.id, startedAt, boot } },
        event: scanStartedEvent(agent, tracker.deviceId, report.trackerId, report.jobId, report.trigger, startedAt, correction),
      };
    } catch (error) {
      if (error instanceof DomainError) return { kind: 'refused', error };
      throw error;
    }
  });
}
