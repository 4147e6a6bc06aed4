import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { portItem } from '@portolan/diff';
import { Logger } from '@portolan/logging';
import { BaselineCoverageRecord } from '@portolan/persistence';
import { DATA_SOURCE, EventRecorder, LOGGER, PlannedChangeStore } from '@portolan/platform';
import { audit, AuditCaller } from '../audit/audit.log';
import type { ExpectPort, Promote, RemoveItem } from './baseline.dto';

export interface BaselineView {
  deviceId: string;
  hosts: { trackerId: string; host: string; baselinedAt: Date; observedAt: Date; coverage: BaselineCoverageRecord | null; items: number }[];
  items: { trackerId: string; host: string; itemType: string; itemKey: string; attributes: Record<string, unknown>; firstSeenAt: Date; lastSeenAt: Date }[];
  pending: { trackerId: string; host: string; itemType: string; itemKey: string; kind: string; seen: number; firstSeenAt: Date }[];
}

export interface BaselineHistoryEntry {
  at: Date;
  /** `scan`: a change event; `operator`: an edit by an operator; `coverage`: moved by a change of the tracker's coverage. */
  source: 'scan' | 'operator' | 'coverage';
  action: string;
  trackerId: string | null;
  host: string | null;
  itemType: string | null;
  itemKey: string | null;
  actor: string | null;
  /** The operator token an operator's edit was made with (`actor` is who the call named). */
  calledBy: string | null;
  justification: string | null;
  eventId: string | null;
}

/** Baseline items listed per device at most. */
const MAX_ITEMS = 10_000;

@Injectable()
export class BaselinesService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly planned: PlannedChangeStore,
  ) {}

  async get(deviceId: string): Promise<BaselineView> {
    await this.device(this.db.manager, deviceId);
    const hosts: { tracker_id: string; host: string; baselined_at: Date; observed_at: Date; coverage: BaselineCoverageRecord | null; items: number }[] = await this.db.query(
      `SELECT b.tracker_id, b.host, b.baselined_at, b.observed_at, b.coverage,
              (SELECT count(*)::int FROM current_items c WHERE c.tracker_id = b.tracker_id AND c.host = b.host) AS items
         FROM baselines b WHERE b.device_id = $1 ORDER BY b.tracker_id, b.host`,
      [deviceId],
    );
    const items: { tracker_id: string; host: string; item_type: string; item_key: string; attributes: Record<string, unknown>; first_seen_at: Date; last_seen_at: Date }[] = await this.db.query(
      `SELECT c.tracker_id, c.host, c.item_type, c.item_key, c.attributes, c.first_seen_at, GREATEST(c.last_seen_at, b.observed_at) AS last_seen_at
         FROM current_items c LEFT JOIN baselines b ON b.tracker_id = c.tracker_id AND b.host = c.host
        WHERE c.device_id = $1 ORDER BY c.host, c.item_type, c.item_key LIMIT ${MAX_ITEMS}`,
      [deviceId],
    );
    const pending: { tracker_id: string; host: string; item_type: string; item_key: string; kind: string; seen: number; first_seen_at: Date }[] = await this.db.query(
      `SELECT p.tracker_id, p.host, p.item_type, p.item_key, p.kind, p.seen, p.first_seen_at FROM pending_changes p JOIN trackers t ON t.id = p.tracker_id WHERE t.device_id = $1 ORDER BY p.host, p.item_key`,
      [deviceId],
    );
    return {
      deviceId,
      hosts: hosts.map((h) => ({ trackerId: h.tracker_id, host: h.host, baselinedAt: h.baselined_at, observedAt: h.observed_at, coverage: h.coverage, items: h.items })),
      items: items.map((i) => ({ trackerId: i.tracker_id, host: i.host, itemType: i.item_type, itemKey: i.item_key, attributes: i.attributes, firstSeenAt: i.first_seen_at, lastSeenAt: i.last_seen_at })),
      pending: pending.map((p) => ({ trackerId: p.tracker_id, host: p.host, itemType: p.item_type, itemKey: p.item_key, kind: p.kind, seen: p.seen, firstSeenAt: p.first_seen_at })),
    };
  }

  async history(deviceId: string, since: Date | undefined, limit: number): Promise<{ items: BaselineHistoryEntry[] }> {
    await this.device(this.db.manager, deviceId);
    const rows: (Omit<BaselineHistoryEntry, 'trackerId' | 'itemType' | 'itemKey' | 'eventId' | 'calledBy'> & { tracker_id: string | null; item_type: string | null; item_key: string | null; event_id: string | null; called_by: string | null })[] = await this.db.query(
      `SELECT * FROM (
         SELECT e.occurred_at AS at, 'scan' AS source, e.kind AS action, e.tracker_id, e.host, e.item_type, e.item_key,
                e.details->'promoted'->>'by' AS actor, NULL AS called_by, e.details->'promoted'->>'justification' AS justification, e.id AS event_id
           FROM events e WHERE e.device_id = $1 AND e.kind IN ('added','removed','modified','baseline') AND ($2::timestamptz IS NULL OR e.occurred_at >= $2)
         UNION ALL
         SELECT a.at, CASE WHEN a.actor = 'comparer' THEN 'coverage' ELSE 'operator' END, a.action, (a.details->>'trackerId')::uuid, a.details->>'host', a.details->>'itemType', a.details->>'itemKey', a.actor, a.caller_name, a.justification, NULL
           FROM audit_log a WHERE a.subject_type = 'device' AND a.subject_id = $1 AND ($2::timestamptz IS NULL OR a.at >= $2)
       ) h ORDER BY at DESC LIMIT $3`,
      [deviceId, since ?? null, limit],
    );
    return {
      items: rows.map((r) => ({ at: r.at, source: r.source, action: r.action, trackerId: r.tracker_id, host: r.host, itemType: r.item_type, itemKey: r.item_key, actor: r.actor, calledBy: r.called_by, justification: r.justification, eventId: r.event_id })),
    };
  }

  /** Applies a pending change to the baseline now and records it as the change event it is, marked promoted. */
  async promote(deviceId: string, body: Promote, caller?: AuditCaller): Promise<{ eventId: string; kind: string }> {
    const { rows, eventId, kind } = await this.db.transaction(async (manager) => {
      await this.tracker(manager, deviceId, body.trackerId);
      const [pending]: { kind: 'added' | 'removed' | 'modified'; before: Record<string, unknown> | null; after: Record<string, unknown> | null; first_seen_at: Date; first_job_id: string }[] = await manager.query(
        `WITH d AS (DELETE FROM pending_changes WHERE tracker_id = $1 AND host = $2 AND item_type = $3 AND item_key = $4 RETURNING kind, before, after, first_seen_at, first_job_id) SELECT * FROM d`,
        [body.trackerId, body.host, body.itemType, body.itemKey],
      );
      if (!pending) throw new DomainError('not_found', `no change of ${body.itemType} ${body.itemKey} on ${body.host} waits for confirmation in tracker ${body.trackerId}`);
      if (pending.after) await upsertItem(manager, deviceId, body, pending.after, pending.first_job_id);
      else await deleteItem(manager, body);
      const event = {
        kind: pending.kind,
        deviceId,
        trackerId: body.trackerId,
        jobId: pending.first_job_id,
        host: body.host,
        itemType: body.itemType,
        itemKey: body.itemKey,
        before: pending.before,
        after: pending.after,
        details: { promoted: { by: body.actor, justification: body.justification } },
        occurredAt: new Date(),
        observedAt: new Date(pending.first_seen_at),
      };
      const classified = await this.planned.classify(manager, deviceId, [event]);
      const inserted = await this.events.insert(manager, classified.events);
      await audit(manager, caller, body.actor, 'baseline.promoted', deviceId, body.justification, itemDetails(body), 'device');
      return { rows: inserted, eventId: inserted[0].id, kind: pending.kind };
    });
    await this.events.announce(rows);
    this.logger.info({ deviceId, trackerId: body.trackerId, itemKey: body.itemKey, actor: body.actor }, 'pending change promoted into the baseline');
    return { eventId, kind };
  }

  async expectPort(deviceId: string, body: ExpectPort, caller?: AuditCaller): Promise<{ itemKey: string }> {
    const item = portItem(body.host, { protocol: body.protocol, port: body.port, state: 'open', service: body.service });
    await this.db.transaction(async (manager) => {
      await this.tracker(manager, deviceId, body.trackerId);
      const ref = { trackerId: body.trackerId, host: body.host, itemType: item.type, itemKey: item.key };
      const exists: unknown[] = await manager.query('SELECT 1 FROM current_items WHERE tracker_id = $1 AND host = $2 AND item_type = $3 AND item_key = $4', [ref.trackerId, ref.host, ref.itemType, ref.itemKey]);
      if (exists.length) throw new DomainError('conflict', `${item.key} on ${body.host} is in the baseline already`);
      // Before the first complete poll there is no baseline to expect anything of: that poll makes it.
      const baselined: unknown[] = await manager.query('SELECT 1 FROM baselines WHERE tracker_id = $1 AND host = $2', [ref.trackerId, ref.host]);
      if (!baselined.length) throw new DomainError('conflict', `${body.host} has no baseline in tracker ${body.trackerId} yet; its first complete poll makes one`);
      await upsertItem(manager, deviceId, ref, { ...item.attributes }, null);
      await audit(manager, caller, body.actor, 'baseline.item-expected', deviceId, body.justification, itemDetails(ref, { ...item.attributes }), 'device');
    });
    return { itemKey: item.key };
  }

  async remove(deviceId: string, body: RemoveItem, caller?: AuditCaller): Promise<{ removed: true }> {
    await this.db.transaction(async (manager) => {
      await this.tracker(manager, deviceId, body.trackerId);
      const attributes = await deleteItem(manager, body);
      if (!attributes) throw new DomainError('not_found', `${body.itemType} ${body.itemKey} on ${body.host} is not in the baseline of tracker ${body.trackerId}`);
      await audit(manager, caller, body.actor, 'baseline.item-removed', deviceId, body.justification, itemDetails(body, attributes), 'device');
    });
    return { removed: true };
  }

  private async device(manager: EntityManager, id: string): Promise<void> {
    const rows: unknown[] = await manager.query('SELECT 1 FROM devices WHERE id = $1', [id]);
    if (!rows.length) throw new DomainError('not_found', `device ${id} does not exist`);
  }

  /** The tracker, locked against the comparer, and of this device. */
  private async tracker(manager: EntityManager, deviceId: string, trackerId: string): Promise<void> {
    await this.device(manager, deviceId);
    const rows: { device_id: string }[] = await manager.query('SELECT device_id FROM trackers WHERE id = $1 FOR UPDATE', [trackerId]);
    if (!rows.length || rows[0].device_id !== deviceId) throw new DomainError('invalid_payload', `trackerId ${trackerId} is not a tracker of device ${deviceId}`, { field: 'trackerId' });
  }
}

type ItemRef = { trackerId: string; host: string; itemType: string; itemKey: string };

/** What the audit log keeps of a baseline edit: the item and (for reports of the past) its attributes. */
function itemDetails(ref: ItemRef, attributes?: Record<string, unknown>): Record<string, unknown> {
  return { trackerId: ref.trackerId, host: ref.host, itemType: ref.itemType, itemKey: ref.itemKey, ...(attributes ? { attributes } : {}) };
}

async function upsertItem(manager: EntityManager, deviceId: string, ref: ItemRef, attributes: Record<string, unknown>, jobId: string | null): Promise<void> {
  await manager.query(
    `INSERT INTO current_items (tracker_id, host, item_type, item_key, device_id, attributes, first_seen_at, last_seen_at, last_job_id)
     VALUES ($1, $2, $3, $4, $5, $6, now(), now(), COALESCE($7::uuid, '00000000-0000-0000-0000-000000000000'))
     ON CONFLICT (tracker_id, host, item_type, item_key) DO UPDATE SET attributes = EXCLUDED.attributes, last_seen_at = now()`,
    [ref.trackerId, ref.host, ref.itemType, ref.itemKey, deviceId, JSON.stringify(attributes), jobId],
  );
}

/** Deletes an item from the baseline; returns the attributes it had, undefined when it was not there. */
async function deleteItem(manager: EntityManager, ref: ItemRef): Promise<Record<string, unknown> | undefined> {
  const rows: { attributes: Record<string, unknown> }[] = await manager.query(
    'WITH d AS (DELETE FROM current_items WHERE tracker_id = $1 AND host = $2 AND item_type = $3 AND item_key = $4 RETURNING attributes) SELECT * FROM d',
    [ref.trackerId, ref.host, ref.itemType, ref.itemKey],
  );
  return rows[0]?.attributes;
}
