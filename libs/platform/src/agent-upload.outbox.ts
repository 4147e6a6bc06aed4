import { gunzipSync, gzipSync } from 'node:zlib';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, FindOptionsWhere, IsNull, LessThan, MoreThan } from 'typeorm';
import { Bus } from '@portolan/bus';
import { AgentResultSchema, Messages, ScanCompleted, ScanCompletedSchema, ScanFailed, ScanFailedSchema } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentUploadEntity } from '@portolan/persistence';
import { agentResultMessage, ResultAcceptanceSchema } from './agent-result.message';
import { markSent } from './sent.marks';
import { settleInWindows } from './settle-in-windows';
import { BUS, DATA_SOURCE, LOGGER } from './tokens';

/** An upload's result message, ready to publish. */
export type OutboxUpload = {
  readonly id: string;
  readonly jobId: string;
  /** The payload as JSON when the caller has it (it stored it): published as is, not serialized again. */
  readonly payloadJson?: string;
} & (
  | { readonly kind: 'completed'; readonly payload: ScanCompleted }
  | { readonly kind: 'failed'; readonly payload: ScanFailed }
);

/** The gzip-compressed JSON of a payload (or of its JSON), as `agent_uploads.payload_gzip` kept it before `body_gzip`. */
export function compressPayload(payload: ScanCompleted | ScanFailed | string): Buffer {
  return gzipSync(typeof payload === 'string' ? payload : JSON.stringify(payload), { level: 1 });
}

/** What a stored upload row holds: the agent's upload as sent with the hub's acceptance, or (rows written before) the message itself. */
export type StoredUploadRow = Pick<AgentUploadEntity, 'id' | 'kind' | 'jobId' | 'bodyGzip' | 'acceptance' | 'payload' | 'payloadGzip'>;

/**
 * A stored upload as a message to publish, checked (it comes back from the database): the body
 * and the acceptance each against their schema, then made into the message as at acceptance;
 * an older row's message against the message's schema.
 */
export function storedUpload(u: StoredUploadRow): OutboxUpload {
  if (u.bodyGzip && u.acceptance) {
    const message = agentResultMessage(AgentResultSchema.parse(JSON.parse(gunzipSync(u.bodyGzip).toString('utf8'))), ResultAcceptanceSchema.parse(u.acceptance));
    if (message.kind !== u.kind) throw new Error(`stored upload ${u.id} is a ${u.kind} result, but its body is a ${message.kind} one`);
    return { id: u.id, jobId: u.jobId, ...message };
  }
  const raw: unknown = u.payloadGzip ? JSON.parse(gunzipSync(u.payloadGzip).toString('utf8')) : u.payload;
  return u.kind === 'completed' ? { id: u.id, jobId: u.jobId, kind: 'completed', payload: ScanCompletedSchema.parse(raw) } : { id: u.id, jobId: u.jobId, kind: 'failed', payload: ScanFailedSchema.parse(raw) };
}

/** How long an accepted upload may sit unpublished before the leader publishes it again. */
const UNPUBLISHED_GRACE_MS = 10_000;
/** The leader's sweep reads this many uploads at a time, and at most `SWEEP_PAGES` pages a sweep. */
const SWEEP_PAGE = 200;
const SWEEP_PAGES = 10;
/** At most this many unreadable uploads are remembered (and logged once) by one process. */
const UNREADABLE_MAX = 10_000;

/**
 * Puts accepted agent uploads on the results stream, where the comparer treats them like any
 * scanner result. The gateway publishes right after its commit; what that misses (bus down, a
 * crash) the scheduler's leader publishes from the stored payload. The upload id is the
 * message id, and the comparer's inbox makes a second delivery change nothing.
 */
@Injectable()
export class AgentUploadOutbox {
  /**
   * Uploads this process could not read back. They stay so until it is upgraded (an acceptance
   * of a newer hub) or for good (a damaged row): each is logged once.
   */
  private readonly unreadable = new Set<string>();
  /**
   * Where the sweep goes on from (the last upload it read), so that any number of unreadable
   * uploads at the head of the queue cannot keep those behind them back; back to the head when it
   * reaches the end, or when the stream refuses.
   */
  private sweptTo?: string;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * The messages of stored uploads (payloads read back from the database are checked first). One
   * that cannot be read back (an acceptance of a newer hub version, during a rolling upgrade) is
   * logged, once, and left unpublished, rather than keeping the others back.
   */
  private readBack(uploads: readonly StoredUploadRow[]): OutboxUpload[] {
    const built: OutboxUpload[] = [];
    for (const upload of uploads) {
      try {
        built.push(storedUpload(upload));
      } catch (error) {
        if (this.unreadable.has(upload.id)) continue;
        if (this.unreadable.size < UNREADABLE_MAX) this.unreadable.add(upload.id);
        this.logger.error({ uploadId: upload.id, jobId: upload.jobId, err: String(error) }, 'a stored agent result could not be read back; left unpublished');
      }
    }
    return built;
  }

  /**
   * Publishes uploads whose payloads the caller has just built, all in flight at once (one
   * connection keeps them in order), and marks the ones the stream acknowledged; returns how
   * many were. A failure leaves the rest for the leader's sweep.
   */
  async publishBuilt(uploads: readonly OutboxUpload[]): Promise<number> {
    const published = await this.publishOnly(uploads);
    await markSent(this.db, { uploadIds: published });
    return published.length;
  }

  /** Publishes without marking; answers the ids the stream acknowledged, for the caller to mark (`markSent`). */
  async publishOnly(uploads: readonly OutboxUpload[]): Promise<string[]> {
    const outcomes = await settleInWindows(uploads, async (u): Promise<void> => {
      const options = { messageId: u.id, correlationId: u.jobId, prevalidated: true, payloadJson: u.payloadJson };
      if (u.kind === 'completed') await this.bus.publish(Messages.scanCompleted, u.payload, options);
      else await this.bus.publish(Messages.scanFailed, u.payload, options);
    });
    const published = uploads.filter((_, i) => outcomes[i].status === 'fulfilled').map((u) => u.id);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) this.logger.warn({ err: String(failed.reason), unpublished: uploads.length - published.length }, 'could not publish agent results; will retry');
    return published;
  }

  /**
   * The leader's sweep: publishes accepted uploads whose publish never completed, in the order
   * they were accepted, a page at a time (at most `SWEEP_PAGES` a sweep), going on from where the
   * last sweep stopped. Uploads it cannot read back are passed over (logged once each).
   */
  async publishUnpublished(now: Date): Promise<number> {
    const repository = this.db.getRepository(AgentUploadEntity);
    const receivedAt = LessThan(new Date(now.getTime() - UNPUBLISHED_GRACE_MS));
    let published = 0;
    for (let page = 0; page < SWEEP_PAGES; page += 1) {
      const where: FindOptionsWhere<AgentUploadEntity> = { publishedAt: IsNull(), receivedAt, ...(this.sweptTo ? { seq: MoreThan(this.sweptTo) } : {}) };
      const uploads = await repository.find({ where, order: { seq: 'ASC' }, take: SWEEP_PAGE });
      const built = this.readBack(uploads);
      const count = built.length ? await this.publishBuilt(built) : 0;
      published += count;
      if (count < built.length || uploads.length < SWEEP_PAGE) {
        this.sweptTo = undefined; // the stream refused some (from the head again next time), or the end is reached
        break;
      }
      this.sweptTo = uploads[uploads.length - 1].seq;
    }
    if (published) this.logger.info({ uploads: published }, 'published agent results that had not been published');
    return published;
  }
}
