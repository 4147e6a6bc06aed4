import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull } from 'typeorm';
import { Bus } from '@portolan/bus';
import { CollectRequested, CollectRequestedSchema, Messages, ScanRequested, scanRequestedFor, ScanRequestedSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanChunkEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';

/** A chunk's job message: a scan for the scanner workers or a collection for the collectors of its site. */
export type ChunkRequest = (ScanRequested & { kind: 'scan' }) | (CollectRequested & { kind: 'collect' });

/** The message as the chunk row keeps it (without the kind, which the row has in its own column). */
export function requestOf(request: ChunkRequest): Record<string, unknown> {
  const { kind: _kind, ...message } = request;
  return message;
}

/** How long a chunk may sit unpublished before the leader publishes it again. */
const UNPUBLISHED_GRACE_MS = 10_000;

/**
 * Publishes chunk scan requests to their site's workers (a paced one only to those that keep to
 * its pace) and records that it did, so a publish lost between commit and bus (a crash, a NATS
 * hiccup) is retried from the stored request. The chunk id is the message id: a retried publish
 * is stored once.
 */
@Injectable()
export class ChunkDispatcher {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
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

  /** Publishes again the queued chunks whose publish never completed. */
  async dispatchUnpublished(now: Date): Promise<number> {
    const before = new Date(now.getTime() - UNPUBLISHED_GRACE_MS);
    const chunks = await this.db.getRepository(ScanChunkEntity).find({ where: { status: 'queued', publishedAt: IsNull() }, order: { queuedAt: 'ASC' }, take: 500 });
    const requests = chunks
      .filter((c) => c.queuedAt < before && c.request)
      .map((c): ChunkRequest => (c.kind === 'collect' ? { kind: 'collect', ...CollectRequestedSchema.parse(c.request) } : { kind: 'scan', ...ScanRequestedSchema.parse(c.request) }));
    if (!requests.length) return 0;
    const count = await this.dispatch(requests);
    this.logger.info({ chunks: count }, 'published scan requests that had not been published');
    return count;
  }
}
