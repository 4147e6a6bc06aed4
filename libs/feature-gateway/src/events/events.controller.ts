import { Controller, Get, Inject, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { DATA_SOURCE } from '@portolan/platform';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { EventFilter, EventFilterSchema, eventWhere } from './event.filter';
import { streamEvents } from './event.export';
import { EVENT_COLUMNS, EventRow, eventView, EventView } from './event.view';

export const ListEventsQuerySchema = EventFilterSchema.extend({
  limit: LimitSchema(500, 100),
  cursor: z.string().max(200).optional(),
});
type ListEventsQuery = z.infer<typeof ListEventsQuerySchema>;

export const EventCountsQuerySchema = EventFilterSchema.extend({
  /** Group by day (UTC), by kind, or both (`day,kind`). */
  by: z.enum(['day', 'kind', 'day,kind', 'kind,day']).default('day,kind'),
});
type EventCountsQuery = z.infer<typeof EventCountsQuerySchema>;

export const ExportEventsQuerySchema = EventFilterSchema.extend({ format: z.enum(['csv', 'json']).default('csv') });
type ExportEventsQuery = z.infer<typeof ExportEventsQuerySchema>;

/**
 * Change and communications events: filtered lists newest first with keyset pagination (a
 * stable order: time, then id), counts by day and kind, and a streamed export of any filter.
 */
@Controller('events')
export class EventsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Get()
  async list(@Query(new ZodValidationPipe(ListEventsQuerySchema, 'query')) query: ListEventsQuery): Promise<Page<EventView>> {
    await this.checkReferences(query);
    const { sql, params } = eventWhere(query);
    const where = [sql];
    if (query.cursor) {
      const { at, id } = decodeCursor(query.cursor);
      params.push(at, id);
      where.push(`${sql ? 'AND' : 'WHERE'} (e.occurred_at, e.id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(query.limit + 1);
    const rows: EventRow[] = await this.db.query(
      `SELECT ${EVENT_COLUMNS} FROM events e LEFT JOIN devices d ON d.id = e.device_id ${where.join(' ')}
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT $${params.length}`,
      params,
    );
    const page = pageOf(rows, query.limit, (r) => new Date(r.occurred_at));
    return { items: page.items.map(eventView), nextCursor: page.nextCursor };
  }

  @Get('counts')
  async counts(@Query(new ZodValidationPipe(EventCountsQuerySchema, 'query')) query: EventCountsQuery): Promise<{ items: { day?: string; kind?: string; planned?: number; count: number }[] }> {
    await this.checkReferences(query);
    const { sql, params } = eventWhere(query);
    const byDay = query.by.includes('day');
    const byKind = query.by.includes('kind');
    const keys = [...(byDay ? [`to_char(date_trunc('day', e.occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day`] : []), ...(byKind ? ['e.kind AS kind'] : [])];
    const groups = [...(byDay ? ['1'] : []), ...(byKind ? [byDay ? '2' : '1'] : [])];
    const rows: { day?: string; kind?: string; planned: number; count: number }[] = await this.db.query(
      `SELECT ${keys.join(', ')}, count(*)::int AS count, count(*) FILTER (WHERE e.planned)::int AS planned
         FROM events e LEFT JOIN devices d ON d.id = e.device_id ${sql}
        GROUP BY ${groups.join(', ')} ORDER BY ${groups.join(', ')}`,
      params,
    );
    return { items: rows };
  }

  /** Streams every matching event, oldest first, as CSV or JSON, in pages: memory stays flat whatever the count. */
  @Get('export')
  async export(@Query(new ZodValidationPipe(ExportEventsQuerySchema, 'query')) query: ExportEventsQuery, @Res() res: Response): Promise<void> {
    await this.checkReferences(query);
    eventWhere(query); // a bad filter is a 400 before anything is sent
    await streamEvents(this.db, query, query.format, res);
  }

  /** An unknown group or site in a filter is a mistake to name, not an empty answer. */
  private async checkReferences(filter: EventFilter): Promise<void> {
    for (const [table, id, field] of [
      ['device_groups', filter.groupId, 'groupId'],
      ['sites', filter.siteId, 'siteId'],
    ] as const) {
      if (!id) continue;
      const rows: unknown[] = await this.db.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
      if (!rows.length) throw new DomainError('invalid_payload', `${field} ${id} does not exist`, { field });
    }
  }
}
