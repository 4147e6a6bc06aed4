import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { Bus } from '@portolan/bus';
import { CollectRequested, CollectRequestedSchema, Messages, ScanRequested, scanRequestedFor, ScanRequestedSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanChunkEntity } from '@portolan/persistence';
import { scanTimeoutMs } from '@portolan/nmap';
import { BUS, DATA_SOURCE, lockPacedTurns, LOGGER } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/** A chunk's job message: a scan for the scanner workers or a collection for the collectors of its site. */
export type ChunkRequest = (ScanRequested & { kind: 'scan' }) | (CollectRequested & { kind: 'collect' });

/** The message as the chunk row keeps it (without the kind, which the row has in its own column). */
export function requestOf(request: ChunkRequest): Record<string, unknown> {
  const { kind: _kind, ...message } = request;
  return message;
}

/** How long a chunk may sit unpublished before the leader publishes it again. */
const UNPUBLISHED_GRACE_MS = 10_000;

/** Chunks published again, or released, at most in one look; the rest at the next tick. */
const BATCH = 500;

/**
 * Publishes chunk scan requests to their site's workers (a paced one only to those that keep to
 * its pace) and records that it did, so a publish lost between commit and bus (a crash, a NATS
 * hiccup) is retried from the stored request. The chunk id is the message id: a retried publish
 * is stored once. A paced run's chunks are published one at a time (`releasePacedTurns`).
 */
@Injectable()
export class ChunkDispatcher {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
  ) {}

  async dispatch(requests: readonly ChunkRequest[]): Promise<number> {
    const published: string[] = [];
    try {
      for (const request of requests) {
        const options = { route: request.site, messageId: request.chunkId, correlationId: request.jobId };
        const { kind: _kind, ...message } = request;
        if (request.kind === 'collect') await this.bus.publish(Messages.collectRequested, message as CollectRequested, options);
        // A paced chunk goes only to the workers that keep to its pace (version 2).
        else await this.bus.publish(scanRequestedFor(request), message as ScanRequested, options);
        published.push(request.chunkId);
      }
    } catch (error) {
      this.logger.warn({ err: String(error), unpublished: requests.length - published.length }, 'could not publish scan requests; will retry');
    }
    if (published.length) await this.db.query(`UPDATE scan_chunks SET published_at = now() WHERE id = ANY($1)`, [published]);
    return published.length;
  }

  /** Publishes again the queued chunks whose publish never completed (not those held for their turn). */
  async dispatchUnpublished(now: Date): Promise<number> {
    const before = new Date(now.getTime() - UNPUBLISHED_GRACE_MS);
    const chunks = await this.db.getRepository(ScanChunkEntity).find({ where: { status: 'queued', publishedAt: IsNull(), held: false }, order: { queuedAt: 'ASC' }, take: BATCH });
    const requests = chunks.filter((c) => c.queuedAt < before && c.request).map(storedRequest);
    if (!requests.length) return 0;
    const count = await this.dispatch(requests);
    this.logger.info({ chunks: count }, 'published scan requests that had not been published');
    return count;
  }

  /**
   * Publishes the next chunk of each paced tracker that has no scan under way (no chunk of an
   * open run of it queued or running, other than held ones): a paced run's chunks are scanned one
   * after another, and runs of one tracker (a manual run beside a scheduled one) one after another
   * too, oldest first, so that the tracker's scans never send more than its `maxRate` between them,
   * wherever they are scanned. A re-probe goes first: the change it confirms is reported only once
   * it is seen again, so it waits for the chunk being scanned, not for the rest of a long run. A
   * released chunk waits in its site's queue from now: its deadline (and its request's) is the
   * queue timeout from now. It is scanned at its tracker's pace as of its release (an edit of
   * `maxRate` since the run was planned applies to the chunks still held, their timeout with it);
   * a tracker whose pace was cleared has all its held chunks released at once, unpaced. A publish
   * that fails is retried as any other (`dispatchUnpublished`). Callers (the leader, a planner)
   * release one after another (`lockPacedTurns`).
   */
  async releasePacedTurns(now: Date): Promise<number> {
    const deadline = new Date(now.getTime() + this.config.chunkQueueTimeoutMs);
    const budget = { baseMs: this.config.chunkTimeoutBaseMs, perProbeMs: this.config.chunkTimeoutPerProbeMs };
    const released = await this.db.transaction(async (manager) => {
      await lockPacedTurns(manager);
      // Wrapped in a SELECT: TypeORM answers an UPDATE with its row count beside the rows.
      const rows: Released[] = await manager.query(
        `WITH held AS (
           SELECT h.id, j.tracker_id, t.max_rate, j.trigger = 'reprobe' AS reprobe, j.requested_at, j.id AS job_id, h.chunk_index
             FROM scan_chunks h JOIN scan_jobs j ON j.id = h.job_id JOIN trackers t ON t.id = j.tracker_id
            WHERE h.held AND h.status = 'queued'
         ), turn AS (
           (SELECT DISTINCT ON (tracker_id) id, tracker_id, max_rate FROM held WHERE max_rate IS NOT NULL ORDER BY tracker_id, reprobe DESC, requested_at, job_id, chunk_index LIMIT ${BATCH})
           UNION ALL
           (SELECT id, tracker_id, max_rate FROM held WHERE max_rate IS NULL LIMIT ${BATCH})
         ), released AS (
           UPDATE scan_chunks c SET held = false, deadline = $1, request = jsonb_set(c.request, '{deadline}', to_jsonb($2::text))
             FROM turn
            WHERE c.id = turn.id AND c.held
              AND (turn.max_rate IS NULL
                   OR NOT EXISTS (SELECT 1 FROM scan_jobs oj JOIN scan_chunks o ON o.job_id = oj.id
                                   WHERE oj.tracker_id = turn.tracker_id AND oj.status IN ('pending', 'queued', 'running') AND o.status IN ('queued', 'running') AND NOT o.held))
           RETURNING c.id, c.kind, c.request, c.probe_count, c.host_count, turn.max_rate
         )
         SELECT * FROM released`,
        [deadline, deadline.toISOString()],
      );
      for (const row of rows) {
        const paced = atPace(row.request ?? {}, row.max_rate, scanTimeoutMs(budget, row.probe_count, row.host_count, row.max_rate));
        if (paced === row.request) continue;
        await manager.query(`UPDATE scan_chunks SET request = $2 WHERE id = $1`, [row.id, paced]);
        row.request = paced;
      }
      return rows;
    });
    if (!released.length) return 0;
    const count = await this.dispatch(released.map(storedRequest));
    this.logger.info({ chunks: released.length, published: count }, 'paced chunks released, one a tracker');
    return released.length;
  }
}

interface Released extends Pick<ScanChunkEntity, 'id' | 'kind' | 'request'> {
  probe_count: number;
  host_count: number;
  /** The tracker's pace now. */
  max_rate: number | null;
}

/** A held chunk's request at its tracker's pace now (the same object when that is the pace it was planned with): `maxRate`, and the timeout that pace needs. */
function atPace(request: Record<string, unknown>, maxRate: number | null, timeoutMs: number): Record<string, unknown> {
  if ((request['maxRate'] ?? null) === maxRate) return request;
  const { maxRate: _planned, ...rest } = request;
  return { ...rest, ...(maxRate !== null && { maxRate }), timeoutMs };
}

/** A chunk's request as stored with it, to publish (again). */
function storedRequest(chunk: Pick<ScanChunkEntity, 'kind' | 'request'>): ChunkRequest {
  return chunk.kind === 'collect' ? { kind: 'collect', ...CollectRequestedSchema.parse(chunk.request) } : { kind: 'scan', ...ScanRequestedSchema.parse(chunk.request) };
}
