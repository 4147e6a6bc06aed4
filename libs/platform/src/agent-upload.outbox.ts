import { Inject, Injectable } from '@nestjs/common';
import { DataSource, IsNull, LessThan } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages, ScanCompletedSchema, ScanFailedSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentUploadEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, LOGGER } from './tokens';

/** How long an accepted upload may sit unpublished before the leader publishes it again. */
const UNPUBLISHED_GRACE_MS = 10_000;

/**
 * Puts accepted agent uploads on the results stream, where the comparer treats them like any
 * scanner result. The gateway publishes right after its commit; what that misses (bus down, a
 * crash) the scheduler's leader publishes from the stored payload. The upload id is the
 * message id, and the comparer's inbox makes a second delivery change nothing.
 */
@Injectable()
export class AgentUploadOutbox {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Publishes the uploads; returns how many were. A failure leaves them for the leader. */
  async publish(uploads: readonly Pick<AgentUploadEntity, 'id' | 'kind' | 'payload' | 'jobId'>[]): Promise<number> {
    const published: string[] = [];
    try {
      for (const upload of uploads) {
        const options = { messageId: upload.id, correlationId: upload.jobId };
        if (upload.kind === 'completed') await this.bus.publish(Messages.scanCompleted, ScanCompletedSchema.parse(upload.payload), options);
        else await this.bus.publish(Messages.scanFailed, ScanFailedSchema.parse(upload.payload), options);
        published.push(upload.id);
      }
    } catch (error) {
      this.logger.warn({ err: String(error), unpublished: uploads.length - published.length }, 'could not publish agent results; will retry');
    }
    if (published.length) await this.db.query('UPDATE agent_uploads SET published_at = now() WHERE id = ANY($1)', [published]);
    return published.length;
  }

  /** The leader's sweep: publishes accepted uploads whose publish never completed, oldest first. */
  async publishUnpublished(now: Date): Promise<number> {
    const uploads = await this.db.getRepository(AgentUploadEntity).find({
      where: { publishedAt: IsNull(), receivedAt: LessThan(new Date(now.getTime() - UNPUBLISHED_GRACE_MS)) },
      order: { seq: 'ASC' },
      take: 200,
    });
    if (!uploads.length) return 0;
    const count = await this.publish(uploads);
    this.logger.info({ uploads: count }, 'published agent results that had not been published');
    return count;
  }
}
