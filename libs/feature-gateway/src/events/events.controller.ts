import { Controller, Get, Inject, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { EventKindSchema } from '@portolan/contracts';
import { PORT_ITEM_TYPE } from '@portolan/diff';
import { DATA_SOURCE } from '@portolan/platform';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

export const ListEventsQuerySchema = z.object({
  deviceId: z.uuid().optional(),
  trackerId: z.uuid().optional(),
  jobId: z.uuid().optional(),
  /** One kind or a comma-separated list. */
  type: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      const kinds = v.split(',').map((k) => k.trim());
      for (const kind of kinds) {
        if (!EventKindSchema.safeParse(kind).success) {
          ctx.addIssue({ code: 'custom', message: `unknown event type "${kind}" (expected ${EventKindSchema.options.join(', ')})` });
          return z.NEVER;
        }
      }
      return kinds;
    }),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: LimitSchema(500, 100),
  cursor: z.string().max(200).optional(),
});
type ListEventsQuery = z.infer<typeof ListEventsQuerySchema>;

export interface EventView {
  id: string;
  kind: string;
  device: { id: string; name: string | null };
  trackerId: string | null;
  jobId: string | null;
  host: string | null;
  itemType: string | null;
  itemKey: string | null;
  protocol: string | null;
  port: number | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  planned: boolean;
  details: Record<string, unknown> | null;
  occurredAt: Date;
}

interface EventRow {
  id: string;
  kind: string;
  device_id: string;
  device_name: string | null;
  tracker_id: string | null;
  job_id: string | null;
  host: string | null;
  item_type: string | null;
  item_key: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  planned: boolean;
  details: Record<string, unknown> | null;
  occurred_at: Date;
}

/** Change and communications events, newest first, with keyset pagination. */
@Controller('events')
export class EventsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Get()
  async list(@Query(new ZodValidationPipe(ListEventsQuerySchema, 'query')) query: ListEventsQuery): Promise<Page<EventView>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (query.deviceId) add('e.device_id = ?', query.deviceId);
    if (query.trackerId) add('e.tracker_id = ?', query.trackerId);
    if (query.jobId) add('e.job_id = ?', query.jobId);
    if (query.type) add('e.kind = ANY(?)', query.type);
    if (query.since) add('e.occurred_at >= ?', new Date(query.since));
    if (query.cursor) {
      const { at, id } = decodeCursor(query.cursor);
      params.push(at, id);
      where.push(`(e.occurred_at, e.id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(query.limit + 1);
    const rows: EventRow[] = await this.db.query(
      `SELECT e.*, d.name AS device_name FROM events e LEFT JOIN devices d ON d.id = e.device_id
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY e.occurred_at DESC, e.id DESC LIMIT $${params.length}`,
      params,
    );
    const page = pageOf(rows, query.limit, (r) => new Date(r.occurred_at));
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }
}

function view(r: EventRow): EventView {
  const attributes = r.after ?? r.before;
  const isPort = r.item_type === PORT_ITEM_TYPE && attributes;
  return {
    id: r.id,
    kind: r.kind,
    device: { id: r.device_id, name: r.device_name },
    trackerId: r.tracker_id,
    jobId: r.job_id,
    host: r.host,
    itemType: r.item_type,
    itemKey: r.item_key,
    protocol: isPort ? String(attributes['protocol']) : null,
    port: isPort ? Number(attributes['port']) : null,
    before: r.before,
    after: r.after,
    planned: r.planned,
    details: r.details,
    occurredAt: new Date(r.occurred_at),
  };
}
