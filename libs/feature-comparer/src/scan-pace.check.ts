import { ScanCompleted } from '@portolan/contracts';
import { NewEvent } from '@portolan/platform';

/** What the comparer knows of a chunk: what it asked the worker to do (`request`: the scan message as published), and its place in the job. */
interface AskedChunk {
  readonly index: number;
  readonly request: Record<string, unknown> | null;
}

/**
 * The `scan-pace-ignored` communications event of a chunk result whose scan ignored its
 * tracker's pace, if it did: the chunk was asked for `maxRate` and the worker's command line
 * has no `--max-rate` (a worker older than the pace drops the field and scans at its full
 * speed, which the pace is there to prevent: a fragile device, a thin link). Its observations
 * are as good as any, and are applied; the event says which worker to upgrade.
 */
export function paceIgnoredEvent(chunk: AskedChunk, result: ScanCompleted, chunkCount: number, occurredAt: Date): NewEvent | undefined {
  const asked = chunk.request?.['maxRate'];
  if (typeof asked !== 'number' || result.args.includes('--max-rate')) return undefined;
  return {
    kind: 'communications',
    deviceId: result.deviceId,
    trackerId: result.trackerId,
    jobId: result.jobId,
    occurredAt,
    details: {
      what: 'scan-pace-ignored',
      maxRate: asked,
      worker: result.worker,
      engine: result.engine,
      engineVersion: result.engineVersion,
      chunk: chunk.index + 1,
      chunks: chunkCount,
      reason: `worker ${result.worker} scanned chunk ${chunk.index + 1}/${chunkCount} without the tracker's pace (maxRate ${asked}: no --max-rate in its command line); it is older than the pace: upgrade it`,
    },
  };
}
