import { Controller, Get, Inject, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { DATA_SOURCE } from '@portolan/platform';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';
import { requireFilterTarget } from '../http/references';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
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

  /**
   * Counts per whole UTC day (`since` and `until` select the days they fall in) and kind, with
   * how many were planned. Filters of time, device, group, site, kind and planned read the daily
   * counts kept as events are recorded; any other filter counts the events themselves.
   */
  @Get('counts')
  async counts(@Query(new ZodValidationPipe(EventCountsQuerySchema, 'query')) query: EventCountsQuery): Promise<{ items: { day?: string; kind?: string; planned?: number; count: number }[] }> {
    await this.checkReferences(query);
    const days: EventCountsQuery = {
      ...query,
      ...(query.since ? { since: startOfDay(query.since).toISOString() } : {}),
      ...(query.until ? { until: endOfDay(query.until).toISOString() } : {}),
    };
    const byDay = query.by.includes('day');
    const byKind = query.by.includes('kind');
    const precise = days.trackerId || days.jobId || days.itemType || days.key || days.q || days.plannedChangeId;
    if (!precise) return { items: await this.countsFromRollup(days, byDay, byKind) };
    const { sql, params } = eventWhere(days);
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

  private async countsFromRollup(filter: EventCountsQuery, byDay: boolean, byKind: boolean) {
    const params: unknown[] = [];
    const p = (value: unknown) => `$${params.push(value)}`;
    const perDevice = Boolean(filter.deviceId || filter.groupId || filter.siteId);
    const where: string[] = [];
    if (filter.since) where.push(`c.day >= ${p(filter.since.slice(0, 10))}`);
    if (filter.until) where.push(`c.day < ${p(filter.until.slice(0, 10))}`);
    if (filter.type) where.push(`c.kind = ANY(${p(filter.type)})`);
    if (filter.planned !== undefined) where.push(`c.planned = ${p(filter.planned)}`);
    if (filter.deviceId) where.push(`c.device_id = ${p(filter.deviceId)}`);
    if (filter.groupId) where.push(`c.device_id IN (SELECT m.device_id FROM device_group_members m WHERE m.group_id = ${p(filter.groupId)})`);
    if (filter.siteId) where.push(`c.device_id IN (SELECT d.id FROM devices d WHERE d.site_id = ${p(filter.siteId)})`);
    const keys = [...(byDay ? [`to_char(c.day, 'YYYY-MM-DD') AS day`] : []), ...(byKind ? ['c.kind AS kind'] : [])];
    const groups = [...(byDay ? ['1'] : []), ...(byKind ? [byDay ? '2' : '1'] : [])];
    const rows: { day?: string; kind?: string; planned: number; count: number }[] = await this.db.query(
      `SELECT ${keys.join(', ')}, sum(c.n)::int AS count, COALESCE(sum(c.n) FILTER (WHERE c.planned), 0)::int AS planned
         FROM ${perDevice ? 'event_counts' : 'event_counts_estate'} c ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        GROUP BY ${groups.join(', ')} HAVING sum(c.n) > 0 ORDER BY ${groups.join(', ')}`,
      params,
    );
    return rows;
  }

  /** Streams every matching event, oldest first, as CSV or JSON, in pages: memory stays flat whatever the count. */
  @Get('export')
  async export(@Query(new ZodValidationPipe(ExportEventsQuerySchema, 'query')) query: ExportEventsQuery, @Res() res: Response): Promise<void> {
    await this.checkReferences(query);
    eventWhere(query); // a bad filter is a 400 before anything is sent
    await streamEvents(this.db, query, query.format, res);
  }

  /** An unknown group or site in a filter is a mistake to name, not an empty answer. */
  /** One event, with the name of the planned change that covers it: where every alert links. */
  @Get(':id')
  async one(@Param('id', UUID_PARAM) id: string): Promise<EventView & { plannedChange: { id: string; name: string } | null }> {
    const [row]: (EventRow & { planned_change_name: string | null })[] = await this.db.query(
      `SELECT ${EVENT_COLUMNS}, p.name AS planned_change_name FROM events e LEFT JOIN devices d ON d.id = e.device_id LEFT JOIN planned_changes p ON p.id = e.planned_change_id WHERE e.id = $1`,
      [id],
    );
    if (!row) throw new DomainError('not_found', `event ${id} does not exist`);
    return { ...eventView(row), plannedChange: row.planned_change_id && row.planned_change_name ? { id: row.planned_change_id, name: row.planned_change_name } : null };
  }

  private async checkReferences(filter: EventFilter): Promise<void> {
    await requireFilterTarget(this.db, 'device_groups', filter.groupId, 'groupId');
    await requireFilterTarget(this.db, 'sites', filter.siteId, 'siteId');
  }
}

function startOfDay(iso: string): Date {
  const d = new Date(iso);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

/** The start of the day after the one `iso` falls in (a time at 00:00:00.000 ends the day before). */
function endOfDay(iso: string): Date {
  const start = startOfDay(iso);
  return start.getTime() === new Date(iso).getTime() ? start : new Date(start.getTime() + 86_400_000);
}
