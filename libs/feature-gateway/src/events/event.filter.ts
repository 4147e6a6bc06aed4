import { z } from 'zod';
import { DomainError, EventKindSchema } from '@portolan/contracts';
import { KeyPatternError, parseKeyPattern } from '@portolan/planning';
import { containsLike, QueryFlag } from '../http/query.filters';

const Time = z.iso.datetime({ offset: true });

/** The filters every event query shares: list, counts, export and reports. */
export const EventFilterSchema = z.object({
  since: Time.optional(),
  until: Time.optional(),
  deviceId: z.uuid().optional(),
  groupId: z.uuid().optional(),
  siteId: z.uuid().optional(),
  trackerId: z.uuid().optional(),
  jobId: z.uuid().optional(),
  itemType: z.string().trim().min(1).max(50).optional(),
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
  planned: QueryFlag.optional(),
  plannedChangeId: z.uuid().optional(),
  /** A port pattern (`tcp/443`, `tcp/8000-8100`, `*` `/53`) or a key glob (`ip route *`). */
  key: z.string().min(1).max(500).optional(),
  /** Free text, matched case-insensitively in the host, the item key and the device name. */
  q: z.string().trim().min(1).max(200).optional(),
});
export type EventFilter = z.infer<typeof EventFilterSchema>;

/** A WHERE clause over `events e` joined to `devices d`, with its parameters ($1...). */
export interface SqlWhere {
  readonly sql: string;
  readonly params: unknown[];
}

/**
 * Builds the WHERE clause of an event query. Every value travels as a parameter. A key
 * pattern becomes conditions on the item key (ports: protocol and a numeric range; globs: a
 * LIKE with its wildcards escaped); an invalid one is a 400 naming it.
 */
export function eventWhere(filter: EventFilter, params: unknown[] = []): SqlWhere {
  const where: string[] = [];
  /** A parameter's placeholder: values never enter the SQL text. */
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const add = (sql: string) => where.push(sql);
  if (filter.since && filter.until && Date.parse(filter.until) < Date.parse(filter.since)) {
    throw new DomainError('invalid_payload', `until ${filter.until} is before since ${filter.since}`, { field: 'until' });
  }
  if (filter.since) add(`e.occurred_at >= ${p(new Date(filter.since))}`);
  if (filter.until) add(`e.occurred_at < ${p(new Date(filter.until))}`);
  if (filter.deviceId) add(`e.device_id = ${p(filter.deviceId)}`);
  if (filter.groupId) add(`e.device_id IN (SELECT m.device_id FROM device_group_members m WHERE m.group_id = ${p(filter.groupId)})`);
  if (filter.siteId) add(`d.site_id = ${p(filter.siteId)}`);
  if (filter.trackerId) add(`e.tracker_id = ${p(filter.trackerId)}`);
  if (filter.jobId) add(`e.job_id = ${p(filter.jobId)}`);
  if (filter.itemType) add(`e.item_type = ${p(filter.itemType)}`);
  if (filter.type) add(`e.kind = ANY(${p(filter.type)})`);
  if (filter.planned !== undefined) add(`e.planned = ${p(filter.planned)}`);
  if (filter.plannedChangeId) add(`e.planned_change_id = ${p(filter.plannedChangeId)}`);
  if (filter.key) {
    let pattern;
    try {
      pattern = parseKeyPattern(filter.key, filter.itemType);
    } catch (error) {
      if (error instanceof KeyPatternError) throw new DomainError('invalid_payload', `key: ${error.message}`, { field: 'key' });
      throw error;
    }
    if (pattern.kind === 'port') {
      add(`e.item_type = 'port'`);
      if (pattern.protocol !== '*') add(`split_part(e.item_key, '/', 1) = ${p(pattern.protocol)}`);
      // The cast only for keys of the port form: a WHERE's conditions may run in any order.
      const port = `(CASE WHEN e.item_key ~ '^[a-z]+/[0-9]{1,5}(@.*)?$' THEN split_part(split_part(e.item_key, '/', 2), '@', 1)::int END)`;
      add(`${port} BETWEEN ${p(pattern.from)} AND ${p(pattern.to)}`);
      if (pattern.bind) add(`e.item_key LIKE ${p(`%@${globToLike(pattern.source.slice(pattern.source.indexOf('@') + 1))}`)} ESCAPE '\\'`);
    } else add(`e.item_key LIKE ${p(globToLike(filter.key))} ESCAPE '\\'`);
  }
  if (filter.q) {
    const like = containsLike(filter.q);
    add(`(e.host ILIKE ${p(like)} ESCAPE '\\' OR e.item_key ILIKE ${p(like)} ESCAPE '\\' OR d.name ILIKE ${p(like)} ESCAPE '\\')`);
  }
  return { sql: where.length ? `WHERE ${where.join(' AND ')}` : '', params };
}

/** `*` and `?` of a glob as LIKE's `%` and `_`; LIKE's own wildcards and `\` escaped. */
export function globToLike(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) out += escapeLike(glob[++i]);
    else if (c === '*') out += '%';
    else if (c === '?') out += '_';
    else out += escapeLike(c);
  }
  return out;
}

function escapeLike(c: string): string {
  return c === '%' || c === '_' || c === '\\' ? `\\${c}` : c;
}
