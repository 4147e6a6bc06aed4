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
 * has no `--max-rate` of that rate (a worker older than the pace drops the field and scans at
 * its full speed, which the pace is there to prevent: a fragile device, a thin link). Paced
 * chunks now travel as version 2 of the request, which such a worker never takes; this catches
 * what was published as version 1 before the hub's upgrade, and a worker whose engine dropped
 * the rate. Its observations are as good as any, and are applied; the event says which
 * worker to upgrade.
 */
export function paceIgnoredEvent(chunk: AskedChunk, result: ScanCompleted, chunkCount: number, occurredAt: Date): NewEvent | undefined {
  const asked = chunk.request?.['maxRate'];
  if (typeof asked !== 'number') return undefined;
  const at = result.args.indexOf('--max-rate');
  const applied = at < 0 ? undefined : result.args[at + 1];
  if (applied !== undefined && Number(applied) === asked) return undefined;
  return {
    kind: 'communications',
    deviceId: result.deviceId,
    trackerId: result.trackerId,
    jobId: result.jobId,
    occurredAt,
    details: {
      what: 'scan-pace-ignored',
      maxRate: asked,
      applied: applied ?? null,
      worker: result.worker,
      engine: result.engine,
      engineVersion: result.engineVersion,
      chunk: chunk.index + 1,
      chunks: chunkCount,
      reason: `worker ${result.worker} scanned chunk ${chunk.index + 1}/${chunkCount} without the tracker's pace (maxRate ${asked}; its command line has ${applied === undefined ? 'no --max-rate' : `--max-rate ${applied}`}): a worker older than the pace scans at its full speed; upgrade it`,
    },
  };
}
