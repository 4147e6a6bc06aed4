import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { Messages, ScanProgress } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';

/** Room past a chunk's scan timeout for a redelivery to another worker after one died. */
const RUN_GRACE_MS = 120_000;

/**
 * Keeps chunk and job progress current from the workers' live progress messages (core NATS,
 * so some may be lost; the result is what settles a chunk). Updates only chunks still open. A
 * worker that reports progress on a chunk of a cancelled job missed the word, or took the chunk
 * before it: it is told again (`Messages.jobCancelled`).
 */

@Injectable()
export class ProgressTracker implements OnApplicationBootstrap, OnModuleDestroy {
  private subscription?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.scanProgress, (envelope) => {
      this.record(envelope.payload).catch((error) => this.logger.debug({ err: String(error) }, 'progress update failed'));
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  async record(progress: ScanProgress): Promise<void> {
    const [chunk]: { job_id: string | null; cancelled: string | null }[] = await this.db.query(
      // The first progress of a chunk starts its run timeout (the scan's own timeout plus grace
      // for a redelivery after a worker died); until then it had only its queue deadline. A later
      // attempt (a worker's retry, another worker after one died) has the same time from its own
      // start: a chunk still being scanned is not failed (nor a paced tracker's next chunk released beside it).
      `WITH updated AS (
       UPDATE scan_chunks SET status = 'running', progress = GREATEST(progress, $2), hosts_done = GREATEST(hosts_done, $3),
              worker = $4, engine = $5, started_at = COALESCE(started_at, $6),
              deadline = GREATEST(CASE WHEN started_at IS NOT NULL THEN deadline END, $6::timestamptz + (COALESCE((request->>'timeoutMs')::bigint, 600000) + $7) * interval '1 millisecond')
        WHERE id = $1 AND status IN ('queued', 'running') RETURNING id
       )
       SELECT c.job_id, j.error AS cancelled FROM scan_chunks c JOIN scan_jobs j ON j.id = c.job_id
        WHERE c.id = $1 AND j.cancelled_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM updated)`,
      [progress.chunkId, progress.percent, progress.hostsDone, progress.worker, progress.engine, progress.startedAt, RUN_GRACE_MS],
    );
    if (chunk?.job_id && chunk.cancelled) {
      this.logger.info({ jobId: chunk.job_id, chunkId: progress.chunkId, worker: progress.worker }, 'progress on a chunk of a cancelled job; the workers are told again');
      this.bus.emit(Messages.jobCancelled, { jobId: chunk.job_id, reason: chunk.cancelled });
      return;
    }
    await this.db.query(
      `UPDATE scan_jobs SET status = 'running', started_at = LEAST(COALESCE(started_at, $2), $2)
        WHERE id = $1 AND status IN ('queued', 'running')`,
      [progress.jobId, progress.startedAt],
    );
  }
}
