import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { Bus } from '@portolan/bus';
import { EventRecorded, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { EventEntity, EventKindRecord } from '@portolan/persistence';
import { BUS, LOGGER } from './tokens';

export interface NewEvent {
  readonly kind: EventKindRecord;
  readonly deviceId: string;
  readonly trackerId: string | null;
  readonly jobId: string | null;
  readonly host?: string | null;
  readonly itemType?: string | null;
  readonly itemKey?: string | null;
  readonly before?: Record<string, unknown> | null;
  readonly after?: Record<string, unknown> | null;
  readonly details?: Record<string, unknown> | null;
  readonly occurredAt: Date;
}

/**
 * Writes events inside the caller's transaction and, once that committed, announces them on
 * the events stream for alerting. Rows are written in multi-row batches.
 */
@Injectable()
export class EventRecorder {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async insert(manager: EntityManager, events: readonly NewEvent[]): Promise<EventEntity[]> {
    const rows: EventEntity[] = events.map((e) =>
      Object.assign(new EventEntity(), {
        id: randomUUID(),
        occurredAt: e.occurredAt,
        kind: e.kind,
        deviceId: e.deviceId,
        trackerId: e.trackerId,
        jobId: e.jobId,
        host: e.host ?? null,
        itemType: e.itemType ?? null,
        itemKey: e.itemKey ?? null,
        before: e.before ?? null,
        after: e.after ?? null,
        planned: false,
        details: e.details ?? null,
      }),
    );
    for (let i = 0; i < rows.length; i += 500) {
      await manager.createQueryBuilder().insert().into(EventEntity).values(rows.slice(i, i + 500) as QueryDeepPartialEntity<EventEntity>[]).updateEntity(false).execute();
    }
    return rows;
  }

  /** Call after commit. A lost announcement never loses the event: it is in the database. */
  async announce(rows: readonly EventEntity[]): Promise<void> {
    for (const row of rows) {
      const payload: EventRecorded = {
        eventId: row.id,
        kind: row.kind,
        deviceId: row.deviceId,
        trackerId: row.trackerId,
        jobId: row.jobId,
        host: row.host,
        itemType: row.itemType,
        itemKey: row.itemKey,
        before: row.before,
        after: row.after,
        planned: row.planned,
        occurredAt: row.occurredAt.toISOString(),
      };
      try {
        await this.bus.publish(Messages.eventRecorded, payload, { messageId: row.id, correlationId: row.jobId ?? undefined });
      } catch (error) {
        this.logger.warn({ eventId: row.id, err: String(error) }, 'could not announce an event on the bus');
      }
    }
  }
}
