import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
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
}

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
    return manager.getRepository(ScanJobEntity).findOne({ where: { id: jobId }, lock: { mode: 'pessimistic_write' } });
  }

  /** Marks an open chunk done or failed; false when it was already settled (nothing changes). */
  async settleChunk(manager: EntityManager, job: ScanJobEntity, chunk: ScanChunkEntity, outcome: ChunkOutcome): Promise<boolean> {
    if (chunk.status === 'done' || chunk.status === 'failed') return false;
    const failed = outcome.error !== undefined;
    await manager.update(ScanChunkEntity, chunk.id, {
      status: failed ? 'failed' : 'done',
      progress: failed ? chunk.progress : 100,
      hostsDone: failed ? chunk.hostsDone : chunk.hostCount,
      worker: outcome.worker ?? chunk.worker,
      engine: outcome.engine ?? chunk.engine,
      engineVersion: outcome.engineVersion ?? chunk.engineVersion,
      args: outcome.args ?? chunk.args,
      startedAt: outcome.startedAt ?? chunk.startedAt ?? outcome.finishedAt,
      finishedAt: outcome.finishedAt,
      error: outcome.error ?? null,
    });
    job.chunksDone += failed ? 0 : 1;
    job.chunksFailed += failed ? 1 : 0;
    if (!failed) {
      job.hostsDone += chunk.hostCount;
      job.probesDone += chunk.probeCount;
      job.hostsUp += outcome.hostsUp ?? 0;
    }
    job.startedAt = earliest(job.startedAt, outcome.startedAt ?? outcome.finishedAt);
    if (failed && !job.error) job.error = `chunk ${chunk.index + 1}/${job.chunkCount}: ${outcome.error}`;
    await manager.update(ScanJobEntity, job.id, {
      chunksDone: job.chunksDone,
      chunksFailed: job.chunksFailed,
      hostsDone: job.hostsDone,
      probesDone: job.probesDone,
      hostsUp: job.hostsUp,
      startedAt: job.startedAt,
      error: job.error,
      status: job.status === 'queued' ? 'running' : job.status,
    });
    return true;
  }

  /** Finishes the job when all its chunks are settled; returns the communications event rows. */
  async finishIfComplete(manager: EntityManager, job: ScanJobEntity, now: Date) {
    if (job.chunkCount === 0 || job.chunksDone + job.chunksFailed < job.chunkCount) return [];
    if (job.status === 'succeeded' || job.status === 'failed' || job.status === 'partial') return [];
    const status: ScanJobStatus = job.chunksFailed === 0 ? 'succeeded' : job.chunksDone === 0 ? 'failed' : 'partial';
    return this.finish(manager, job, status, job.error, now);
  }

  /** Fails a job that never got to run (planning error), with its communications event. */
  async failJob(manager: EntityManager, job: ScanJobEntity, error: string, now: Date) {
    return this.finish(manager, job, 'failed', error, now);
  }

  private async finish(manager: EntityManager, job: ScanJobEntity, status: ScanJobStatus, error: string | null, now: Date) {
    const startedAt = job.startedAt ?? job.requestedAt;
    // The scan ended when its last chunk did, not when the comparer got round to it.
    const [last]: { finished_at: Date | null }[] = await manager.query('SELECT max(finished_at) AS finished_at FROM scan_chunks WHERE job_id = $1', [job.id]);
    const finishedAt = last?.finished_at ? new Date(last.finished_at) : now;
    const durationMs = Math.max(0, finishedAt.getTime() - startedAt.getTime());
    await manager.update(ScanJobEntity, job.id, { status, finishedAt, durationMs, error });
    const event: NewEvent = {
      kind: 'communications',
      deviceId: job.deviceId,
      trackerId: job.trackerId,
      jobId: job.id,
      occurredAt: now,
      details: {
        what: status === 'failed' ? 'scan-failed' : 'scan-finished',
        status,
        durationMs,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        hostsPlanned: job.hostsPlanned,
        hostsUp: job.hostsUp,
        probesPlanned: job.probesPlanned,
        chunks: job.chunkCount,
        chunksFailed: job.chunksFailed,
        ...(error ? { reason: error } : {}),
      },
    };
    return this.events.insert(manager, [event]);
  }
}

function earliest(a: Date | null, b: Date): Date {
  return a && a.getTime() <= b.getTime() ? a : b;
}
