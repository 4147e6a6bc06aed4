import { ScanFailed } from '@portolan/contracts';

/** The chunk a worker (scanner or collector) was given. */
export interface ChunkJob {
  readonly jobId: string;
  readonly chunkId: string;
  readonly trackerId: string;
  readonly deviceId: string;
}

/** A worker's final word on a chunk it could not complete: who, when, and why (code and message, bounded). */
export function chunkFailure(job: ChunkJob, worker: string, startedAt: Date, code: string, message: string): ScanFailed {
  return {
    jobId: job.jobId,
    chunkId: job.chunkId,
    trackerId: job.trackerId,
    deviceId: job.deviceId,
    worker,
    startedAt: startedAt.toISOString(),
    failedAt: new Date().toISOString(),
    error: { code: code.slice(0, 64), message: message.slice(0, 2000) },
  };
}
