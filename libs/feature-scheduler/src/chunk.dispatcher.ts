import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { Bus } from '@portolan/bus';
import { CollectRequested, CollectRequestedSchema, Messages, ScanRequested, scanRequestedFor, ScanRequestedSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanChunkEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';
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

/** Chunks released at most in one look (`releasePacedTurns`); the rest at the next tick. */
const RELEASE_BATCH = 500;

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
    const chunks = await this.db.getRepository(ScanChunkEntity).find({ where: { status: 'queued', publishedAt: IsNull(), held: false }, order: { queuedAt: 'ASC' }, take: 500 });
    const requests = chunks.filter((c) => c.queuedAt < before && c.request).map(storedRequest);
    if (!requests.length) return 0;
    const count = await this.dispatch(requests);
    this.logger.info({ chunks: count }, 'published scan requests that had not been published');
    return count;
  }

  /**
   * Publishes the next chunk of each paced run whose chunks before it are all settled (done or
   * failed), so that one run sends at most its tracker's `maxRate` wherever its chunks are
   * scanned. A released chunk waits in its site's queue from now: its deadline (and its
   * request's) is the queue timeout from now. A publish that fails is retried as any other
   * (`dispatchUnpublished`); a second leader releasing the same chunk finds it released.
   */
  async releasePacedTurns(now: Date): Promise<number> {
    const deadline = new Date(now.getTime() + this.config.chunkQueueTimeoutMs);
    const released: Pick<ScanChunkEntity, 'id' | 'kind' | 'request'>[] = await this.db.query(
      `WITH turn AS (
         SELECT h.id FROM scan_chunks h
          WHERE h.held AND h.status = 'queued'
            AND NOT EXISTS (SELECT 1 FROM scan_chunks p WHERE p.job_id = h.job_id AND p.chunk_index < h.chunk_index AND p.status IN ('queued', 'running'))
          ORDER BY h.queued_at LIMIT ${RELEASE_BATCH}
       ), released AS (
         UPDATE scan_chunks c SET held = false, deadline = $1, request = jsonb_set(c.request, '{deadline}', to_jsonb($2::text))
           FROM turn WHERE c.id = turn.id AND c.held
         RETURNING c.id, c.kind, c.request
       )
       SELECT * FROM released`,
      [deadline, deadline.toISOString()],
    );
    if (!released.length) return 0;
    const count = await this.dispatch(released.map(storedRequest));
    this.logger.info({ chunks: released.length, published: count }, "paced runs' next chunks released");
    return released.length;
  }
}

/** A chunk's request as stored with it, to publish (again). */
function storedRequest(chunk: Pick<ScanChunkEntity, 'kind' | 'request'>): ChunkRequest {
  return chunk.kind === 'collect' ? { kind: 'collect', ...CollectRequestedSchema.parse(chunk.request) } : { kind: 'scan', ...ScanRequestedSchema.parse(chunk.request) };
}
