import { Controller, Get, Inject, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { DATA_SOURCE } from '@portolan/platform';
import { requireFilterTarget } from '../http/references';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

const Time = z.iso.datetime({ offset: true });
const DAY_MS = 86_400_000;

export const PlannedSummaryQuerySchema = z.object({
  groupId: z.uuid().optional(),
  since: Time.optional(),
  until: Time.optional(),
  /** Rows per device group, or per group and day (UTC). */
  by: z.enum(['group', 'group,day']).default('group'),
});
export const ExposureQuerySchema = z.object({ groupId: z.uuid().optional(), siteId: z.uuid().optional(), top: z.coerce.number().int().min(1).max(1_000).default(100) });
export const OpenAtQuerySchema = z.object({ deviceId: z.uuid(), at: Time });

interface ItemState {
  host: string;
  itemKey: string;
  trackerId: string;
  attributes: Record<string, unknown>;
}

/** Reports over events and baselines: planned against unplanned, current exposure, and the open ports of a device at a past time. */
@Controller('reports')
export class ReportsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  /** Planned and unplanned changes per device group (devices in no group under "(no group)") over a period (default: the last 30 days). */
  @Get('planned-vs-unplanned')
  async planned(@Query(new ZodValidationPipe(PlannedSummaryQuerySchema, 'query')) query: z.infer<typeof PlannedSummaryQuerySchema>) {
    await requireFilterTarget(this.db, 'device_groups', query.groupId, 'groupId');
    const until = query.until ? new Date(query.until) : new Date();
    const since = query.since ? new Date(query.since) : new Date(until.getTime() - 30 * DAY_MS);
    if (since >= until) throw new DomainError('invalid_payload', `since ${since.toISOString()} is not before until ${until.toISOString()}`, { field: 'since' });
    const byDay = query.by === 'group,day';
    const rows: { group_id: string | null; group_name: string | null; day?: string; planned: number; unplanned: number; devices: number }[] = await this.db.query(
      `SELECT g.id AS group_id, COALESCE(g.name, '(no group)') AS group_name,
              ${byDay ? `to_char(date_trunc('day', e.occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS day,` : ''}
              count(*) FILTER (WHERE e.planned)::int AS planned, count(*) FILTER (WHERE NOT e.planned)::int AS unplanned,
              count(DISTINCT e.device_id)::int AS devices
         FROM events e
         LEFT JOIN device_group_members m ON m.device_id = e.device_id
         LEFT JOIN device_groups g ON g.id = m.group_id
        WHERE e.occurred_at >= $1 AND e.occurred_at < $2 AND e.kind IN ('added', 'removed', 'modified')
          AND ($3::uuid IS NULL OR m.group_id = $3)
        GROUP BY g.id, g.name${byDay ? ', 3' : ''}
        ORDER BY group_name${byDay ? ', day' : ''}`,
      [since, until, query.groupId ?? null],
    );
    return {
      since,
      until,
      items: rows.map((r) => ({ groupId: r.group_id, group: r.group_name, ...(byDay ? { day: r.day } : {}), planned: r.planned, unplanned: r.unplanned, devices: r.devices })),
    };
  }

  /** What is open now: per device (open ports) and per port across the estate (devices and hosts it is open on). */
  @Get('exposure')
  async exposure(@Query(new ZodValidationPipe(ExposureQuerySchema, 'query')) query: z.infer<typeof ExposureQuerySchema>) {
    await requireFilterTarget(this.db, 'device_groups', query.groupId, 'groupId');
    await requireFilterTarget(this.db, 'sites', query.siteId, 'siteId');
    const scope = `c.item_type = 'port' AND ($1::uuid IS NULL OR c.device_id IN (SELECT device_id FROM device_group_members WHERE group_id = $1))
                   AND ($2::uuid IS NULL OR d.site_id = $2)`;
    const params = [query.groupId ?? null, query.siteId ?? null, query.top];
    const byDevice: { device_id: string; name: string; open_ports: number; hosts: number }[] = await this.db.query(
      `SELECT c.device_id, d.name, count(*)::int AS open_ports, count(DISTINCT c.host)::int AS hosts
         FROM current_items c JOIN devices d ON d.id = c.device_id WHERE ${scope}
        GROUP BY c.device_id, d.name ORDER BY open_ports DESC, d.name LIMIT $3`,
      params,
    );
    const byPort: { port: string; devices: number; hosts: number }[] = await this.db.query(
      `SELECT split_part(c.item_key, '@', 1) AS port, count(DISTINCT c.device_id)::int AS devices, count(DISTINCT c.host)::int AS hosts
         FROM current_items c JOIN devices d ON d.id = c.device_id WHERE ${scope}
        GROUP BY 1 ORDER BY devices DESC, hosts DESC, 1 LIMIT $3`,
      params,
    );
    return {
      devices: byDevice.map((r) => ({ deviceId: r.device_id, name: r.name, openPorts: r.open_ports, hosts: r.hosts })),
      ports: byPort.map((r) => ({ port: r.port, devices: r.devices, hosts: r.hosts })),
    };
  }

  /**
   * The ports that were open on a device at a past time, rebuilt from its baseline now and the
   * change events since: each later change is undone, newest first (an added port removed, a
   * removed one put back with the attributes it had, a modified one given its earlier ones).
   * Moves that raise no event (a port spec change, an operator's edit) are undone from the audit
   * log. Hosts baselined after that time had no baseline then and are left out.
   */
  @Get('open-at')
  async openAt(@Query(new ZodValidationPipe(OpenAtQuerySchema, 'query')) query: z.infer<typeof OpenAtQuerySchema>) {
    await requireFilterTarget(this.db, 'devices', query.deviceId, 'deviceId');
    const at = new Date(query.at);
    const current: { tracker_id: string; host: string; item_key: string; attributes: Record<string, unknown> }[] = await this.db.query(
      `SELECT c.tracker_id, c.host, c.item_key, c.attributes FROM current_items c JOIN baselines b ON b.tracker_id = c.tracker_id AND b.host = c.host
        WHERE c.device_id = $1 AND c.item_type = 'port' AND b.baselined_at <= $2`,
      [query.deviceId, at],
    );
    const state = new Map<string, ItemState>(current.map((c) => [`${c.tracker_id} ${c.host} ${c.item_key}`, { trackerId: c.tracker_id, host: c.host, itemKey: c.item_key, attributes: c.attributes }]));
    // Every later move of the baseline, newest first: change events, and the moves the audit log
    // keeps (coverage changes, operators' edits), which raise no event.
    const later: { at: Date; tracker_id: string; host: string; item_key: string; undo: 'delete' | 'restore'; attributes: Record<string, unknown> | null }[] = await this.db.query(
      `SELECT * FROM (
         SELECT COALESCE(e.observed_at, e.occurred_at) AS at, e.tracker_id, e.host, e.item_key,
                CASE WHEN e.kind = 'added' THEN 'delete' ELSE 'restore' END AS undo, e.before AS attributes
           FROM events e WHERE e.device_id = $1 AND e.item_type = 'port' AND e.kind IN ('added', 'removed', 'modified') AND COALESCE(e.observed_at, e.occurred_at) > $2
         UNION ALL
         SELECT a.at, (a.details->>'trackerId')::uuid, a.details->>'host', a.details->>'itemKey',
                CASE WHEN a.action IN ('baseline.item-expected', 'baseline.coverage-added') THEN 'delete' ELSE 'restore' END, a.details->'attributes'
           FROM audit_log a WHERE a.subject_type = 'device' AND a.subject_id = $1 AND a.at > $2 AND a.details->>'itemType' = 'port'
            AND a.action IN ('baseline.item-expected', 'baseline.item-removed', 'baseline.coverage-added', 'baseline.coverage-dropped')
       ) m ORDER BY at DESC`,
      [query.deviceId, at],
    );
    const baselinedBefore = new Set(
      ((await this.db.query('SELECT tracker_id, host FROM baselines WHERE device_id = $1 AND baselined_at <= $2', [query.deviceId, at])) as { tracker_id: string; host: string }[]).map((b) => `${b.tracker_id} ${b.host}`),
    );
    for (const m of later) {
      if (!baselinedBefore.has(`${m.tracker_id} ${m.host}`)) continue;
      const key = `${m.tracker_id} ${m.host} ${m.item_key}`;
      if (m.undo === 'delete') state.delete(key);
      else if (m.attributes) state.set(key, { trackerId: m.tracker_id, host: m.host, itemKey: m.item_key, attributes: m.attributes });
    }
    return {
      deviceId: query.deviceId,
      at,
      changesUndone: later.length,
      ports: [...state.values()].sort((a, b) => a.host.localeCompare(b.host) || a.itemKey.localeCompare(b.itemKey, undefined, { numeric: true })),
    };
  }
}
