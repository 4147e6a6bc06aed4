import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { RunRequested } from '@portolan/contracts';
import { Item, itemId, parsePortKey, PORT_ITEM_TYPE } from '@portolan/diff';
import { BaselineCoverageRecord, EventEntity, FlappingRecord, PortSetRecord } from '@portolan/persistence';
import { EventRecorder, NewEvent, PlannedChangeStore } from '@portolan/platform';
import { HostChange } from './baseline.plan';
import { confirmChanges, DetectedChange, PendingChange } from './noise/confirmation';
import { FlapState, stepFlapping } from './noise/flapping';

/** What the writer needs to know of the result and its tracker. */
export interface WriteContext {
  readonly trackerId: string;
  readonly deviceId: string;
  readonly jobId: string;
  readonly observedAt: Date;
  readonly now: Date;
  readonly sendBaselineEvents: boolean;
  readonly confirmations: number;
  readonly flapping: FlappingRecord | null;
  /** The tracker re-probes a change before reporting it: seen in `confirmations` scans, then once more by a re-probe. */
  readonly reprobe: boolean;
  /** This result is a re-probe: it looked at a few ports only, and says nothing of the host's baseline as a whole. */
  readonly isReprobe: boolean;
  /** The coverage a host's baseline is made over once this result is applied. */
  readonly coverageFor: (host: string) => BaselineCoverageRecord;
  /** Whether an item is inside what this result compared (its coverage, and the baseline's). */
  readonly compared: (item: Item) => boolean;
}

interface PendingRow {
  host: string;
  item_type: string;
  item_key: string;
  kind: 'added' | 'removed' | 'modified';
  before: Item['attributes'] | null;
  after: Item['attributes'] | null;
  seen: number;
  first_seen_at: Date;
  first_job_id: string;
}

/**
 * Moves baselines and records change events for one applied result, through noise control:
 * confirmation (a change moves the baseline and is reported only once seen in the tracker's
 * number of consecutive complete scans), then flapping (an item changing too often raises one
 * flapping-started event and is quiet until flapping-stopped). Items newly brought into
 * coverage are baselined and items taken out of it dropped, without events. Events are
 * classified planned or unplanned as they are recorded.
 */
@Injectable()
export class BaselineWriter {
  constructor(
    private readonly events: EventRecorder,
    private readonly planned: PlannedChangeStore,
  ) {}

  /**
   * Applies many results (of different trackers) in one transaction: noise control per result
   * (statements only for trackers that use it), then one statement per table for all of them.
   */
  async writeMany(manager: EntityManager, results: readonly { ctx: WriteContext; changes: readonly HostChange[] }[]): Promise<Written> {
    const events: NewEvent[] = [];
    const reprobes: RunRequested[] = [];
    const upserts: { ctx: WriteContext; item: Item }[] = [];
    const removals: { trackerId: string; item: Item }[] = [];
    const moves: { ctx: WriteContext; action: string; item: Item }[] = [];
    const polled: { ctx: WriteContext; host: string }[] = [];
    for (const { ctx, changes } of results) {
      const detected: DetectedChange[] = [];
      for (const change of changes) {
        // A re-probe looked at a few ports: the host's baseline row (when it was polled in full, over what) stays.
        if (!ctx.isReprobe) polled.push({ ctx, host: change.host });
        moves.push(...change.baselined.map((item) => ({ ctx, action: 'baseline.coverage-added', item })), ...change.dropped.map((item) => ({ ctx, action: 'baseline.coverage-dropped', item })));
        if (change.firstPoll) {
          upserts.push(...change.observed.map((item) => ({ ctx, item })));
          if (ctx.sendBaselineEvents) events.push(...change.observed.map((item) => event(ctx, 'baseline', item, null, item)));
          continue;
        }
        upserts.push(...change.baselined.map((item) => ({ ctx, item })));
        removals.push(...change.dropped.map((item) => ({ trackerId: ctx.trackerId, item })));
        detected.push(...change.added.map((item): DetectedChange => ({ kind: 'added', item, before: null, after: item })));
        detected.push(...change.removed.map((item): DetectedChange => ({ kind: 'removed', item, before: item, after: null })));
        detected.push(...change.modified.map((m): DetectedChange => ({ kind: 'modified', item: m.after, before: m.before, after: m.after, changed: m.changed })));
      }
      const compared = changes.filter((c) => !c.firstPoll).map((c) => c.host);
      const { confirmed, due } = await this.confirm(manager, ctx, compared, detected);
      if (ctx.reprobe && !ctx.isReprobe && due.length) reprobes.push(await requestReprobe(manager, ctx, due, 1));
      for (const change of confirmed) {
        if (change.after) upserts.push({ ctx, item: change.after });
        else removals.push({ trackerId: ctx.trackerId, item: change.item });
      }
      events.push(...(await this.flapAndReport(manager, ctx, compared, confirmed, changes)));
    }

    await upsertItems(manager, upserts);
    await deleteItems(manager, removals);
    await recordCoverageMoves(manager, moves);
    if (polled.length) {
      // The host's baseline row says when it was last polled in full; its items are not rewritten each time.
      await manager.query(
        `INSERT INTO baselines (tracker_id, host, device_id, baselined_at, observed_at, last_job_id, coverage)
         SELECT v.tracker_id, v.host, v.device_id, v.now, v.observed_at, v.job_id, v.coverage
           FROM jsonb_to_recordset($1::jsonb) AS v(tracker_id uuid, host text, device_id uuid, now timestamptz, observed_at timestamptz, job_id uuid, coverage jsonb)
         ON CONFLICT (tracker_id, host) DO UPDATE SET observed_at = EXCLUDED.observed_at, last_job_id = EXCLUDED.last_job_id, coverage = EXCLUDED.coverage`,
        [JSON.stringify(polled.map(({ ctx, host }) => ({ tracker_id: ctx.trackerId, host, device_id: ctx.deviceId, now: ctx.now, observed_at: ctx.observedAt, job_id: ctx.jobId, coverage: ctx.coverageFor(host) })))],
      );
    }
    // Planned or unplanned: decided once, as the event is recorded, by the observation's time.
    const classified = await this.planned.classifyMany(manager, events);
    const rows = await this.events.insert(manager, classified.events);
    await this.planned.recordProposals(manager, rows, classified.matches);
    return { events: rows, reprobes };
  }

  /**
   * Confirmation: which detected changes are confirmed; the waiting ones are kept for the next
   * scans. A tracker that re-probes needs one sighting more than `confirmations`, the re-probe's:
   * `due` are the port changes a full scan has just seen for the `confirmations`th time.
   */
  private async confirm(manager: EntityManager, ctx: WriteContext, hosts: string[], detected: DetectedChange[]): Promise<{ confirmed: (DetectedChange & { firstSeenAt: Date })[]; due: PendingChange[] }> {
    const required = ctx.reprobe ? ctx.confirmations + 1 : ctx.confirmations;
    if (required <= 1) return { confirmed: detected.map((d) => ({ ...d, firstSeenAt: ctx.observedAt })), due: [] };
    if (!hosts.length) return { confirmed: [], due: [] };
    const rows: PendingRow[] = await manager.query('SELECT * FROM pending_changes WHERE tracker_id = $1 AND host = ANY($2)', [ctx.trackerId, hosts]);
    // A scan that did not look at an item neither confirms nor cancels its pending change.
    const looked = rows.filter((r) => ctx.compared(pendingItem(r)));
    const pending: PendingChange[] = looked.map((r) => ({ host: r.host, itemType: r.item_type, itemKey: r.item_key, kind: r.kind, after: r.after, seen: r.seen, firstSeenAt: new Date(r.first_seen_at), firstJobId: r.first_job_id }));
    const outcome = confirmChanges(detected, pending, required, ctx.observedAt, ctx.jobId);
    if (outcome.dropped.length) {
      await manager.query(
        `DELETE FROM pending_changes p USING unnest($2::text[], $3::text[], $4::text[]) AS r(host, item_type, item_key)
          WHERE p.tracker_id = $1 AND p.host = r.host AND p.item_type = r.item_type AND p.item_key = r.item_key`,
        [ctx.trackerId, outcome.dropped.map((p) => p.host), outcome.dropped.map((p) => p.itemType), outcome.dropped.map((p) => p.itemKey)],
      );
    }
    if (outcome.pending.length) {
      const before = new Map(detected.map((d) => [itemId(d.item), d.before?.attributes ?? null]));
      await manager.query(
        `INSERT INTO pending_changes (tracker_id, host, item_type, item_key, kind, before, after, seen, first_seen_at, first_job_id)
         SELECT $1, v.host, v.item_type, v.item_key, v.kind, v.before, v.after, v.seen, v.first_seen_at, v.first_job_id
           FROM jsonb_to_recordset($2::jsonb) AS v(host text, item_type text, item_key text, kind text, before jsonb, after jsonb, seen int, first_seen_at timestamptz, first_job_id uuid)
         ON CONFLICT (tracker_id, host, item_type, item_key) DO UPDATE SET kind = EXCLUDED.kind, before = EXCLUDED.before, after = EXCLUDED.after, seen = EXCLUDED.seen,
           first_seen_at = EXCLUDED.first_seen_at, first_job_id = EXCLUDED.first_job_id`,
        [
          ctx.trackerId,
          JSON.stringify(
            outcome.pending.map((p) => ({
              host: p.host,
              item_type: p.itemType,
              item_key: p.itemKey,
              kind: p.kind,
              before: before.get(itemId({ type: p.itemType, host: p.host, key: p.itemKey })) ?? null,
              after: p.after,
              seen: p.seen,
              first_seen_at: p.firstSeenAt,
              first_job_id: p.firstJobId,
            })),
          ),
        ],
      );
    }
    return { confirmed: outcome.confirmed, due: outcome.pending.filter((p) => p.seen === ctx.confirmations && p.itemType === PORT_ITEM_TYPE) };
  }

  /** Flapping over the confirmed changes; returns the events to record (changes and flapping marks). */
  private async flapAndReport(manager: EntityManager, ctx: WriteContext, hosts: string[], confirmed: (DetectedChange & { firstSeenAt: Date })[], changes: readonly HostChange[]): Promise<NewEvent[]> {
    const changeEvent = (c: DetectedChange & { firstSeenAt: Date }) => event(ctx, c.kind, c.item, c.before, c.after, c.changed ? { changed: c.changed } : {}, c.firstSeenAt);
    if (!ctx.flapping || !hosts.length) return confirmed.map(changeEvent);
    const policy = { threshold: ctx.flapping.threshold, windowMs: ctx.flapping.windowSeconds * 1000 };
    // What each compared host has now, for the state a flapping item settled in.
    const settled = new Map(changes.flatMap((c) => c.observed.map((item) => [itemId(item), item] as const)));
    const rows: { host: string; item_type: string; item_key: string; changes: number[]; flapping_since: Date | null }[] = await manager.query(
      'SELECT host, item_type, item_key, changes, flapping_since FROM item_flaps WHERE tracker_id = $1 AND host = ANY($2)',
      [ctx.trackerId, hosts],
    );
    const states = new Map(rows.map((r) => [itemId({ type: r.item_type, host: r.host, key: r.item_key }), { row: r, state: { changes: r.changes, flappingSince: r.flapping_since ? new Date(r.flapping_since).getTime() : null } as FlapState }]));
    const now = ctx.observedAt.getTime();
    const out: NewEvent[] = [];
    const keep: { host: string; item_type: string; item_key: string; changes: readonly number[]; flapping_since: Date | null }[] = [];
    const forget: { host: string; type: string; key: string }[] = [];
    const visit = (item: Pick<Item, 'type' | 'host' | 'key'>, state: FlapState | null, change: (DetectedChange & { firstSeenAt: Date }) | null) => {
      const step = stepFlapping(state, change ? now : null, now, policy);
      if (change && step.report) out.push(changeEvent(change));
      if (step.emit === 'started' && change) out.push(event(ctx, 'flapping-started', change.item, change.before, change.after, { changes: step.state?.changes.length, windowSeconds: ctx.flapping?.windowSeconds }));
      if (step.emit === 'stopped') {
        // It settled present (after: its attributes) or absent (after: null).
        const now = settled.get(itemId(item)) ?? null;
        out.push(event(ctx, 'flapping-stopped', { type: item.type, host: item.host, key: item.key, attributes: {} }, null, now, { flappingSince: state?.flappingSince ? new Date(state.flappingSince).toISOString() : null }));
      }
      if (step.state) keep.push({ host: item.host, item_type: item.type, item_key: item.key, changes: step.state.changes, flapping_since: step.state.flappingSince === null ? null : new Date(step.state.flappingSince) });
      else if (state) forget.push({ host: item.host, type: item.type, key: item.key });
    };
    for (const change of confirmed) {
      const id = itemId(change.item);
      visit(change.item, states.get(id)?.state ?? null, change);
      states.delete(id);
    }
    // Items not changed this scan: a flapping one may have gone quiet long enough to stop.
    for (const { row, state } of states.values()) {
      const item = { type: row.item_type, host: row.host, key: row.item_key };
      if (ctx.compared(pendingItem({ item_type: row.item_type, host: row.host, item_key: row.item_key, after: null, before: null }))) visit(item, state, null);
    }
    if (forget.length) {
      await manager.query(
        `DELETE FROM item_flaps f USING unnest($2::text[], $3::text[], $4::text[]) AS r(host, item_type, item_key)
          WHERE f.tracker_id = $1 AND f.host = r.host AND f.item_type = r.item_type AND f.item_key = r.item_key`,
        [ctx.trackerId, forget.map((f) => f.host), forget.map((f) => f.type), forget.map((f) => f.key)],
      );
    }
    if (keep.length) {
      await manager.query(
        `INSERT INTO item_flaps (tracker_id, host, item_type, item_key, changes, flapping_since)
         SELECT $1, v.host, v.item_type, v.item_key, v.changes, v.flapping_since FROM jsonb_to_recordset($2::jsonb) AS v(host text, item_type text, item_key text, changes jsonb, flapping_since timestamptz)
         ON CONFLICT (tracker_id, host, item_type, item_key) DO UPDATE SET changes = EXCLUDED.changes, flapping_since = EXCLUDED.flapping_since`,
        [ctx.trackerId, JSON.stringify(keep)],
      );
    }
    return out;
  }
}

/** What writing results did: the events recorded, and the re-probes asked for (to publish once committed). */
export interface Written {
  readonly events: EventEntity[];
  readonly reprobes: RunRequested[];
}

/** How many times a change is re-probed when the re-probe fails or finds its host down. */
export const REPROBE_ATTEMPTS = 3;

/** What a re-probe job looks at: these hosts and ports (for nmap), and of them only these (host, port) items. */
export interface ProbeRecord {
  hosts: string[];
  ports: PortSetRecord;
  items: string[];
  attempt: number;
}

/**
 * A re-probe of port changes: a job of the tracker over just those hosts and ports, planned by
 * the scheduler like any run once it is announced. Only the (host, port) pairs asked about are
 * compared in its result.
 */
export async function requestReprobe(manager: Pick<EntityManager, 'query'>, ctx: Pick<WriteContext, 'trackerId' | 'deviceId'>, changes: readonly Pick<PendingChange, 'host' | 'itemKey'>[], attempt: number): Promise<RunRequested> {
  const ports: PortSetRecord = { tcp: [], udp: [] };
  for (const p of changes) {
    const key = parsePortKey(p.itemKey);
    const list = key?.protocol === 'tcp' ? ports.tcp : key?.protocol === 'udp' ? ports.udp : undefined;
    if (key && list && !list.some((r) => r.from === key.port)) list.push({ from: key.port, to: key.port });
  }
  ports.tcp.sort((a, b) => a.from - b.from);
  ports.udp.sort((a, b) => a.from - b.from);
  const jobId = randomUUID();
  const requestedAt = new Date();
  const probe: ProbeRecord = { hosts: [...new Set(changes.map((p) => p.host))].sort(), ports, items: [...new Set(changes.map((p) => `${p.host} ${p.itemKey}`))].sort(), attempt };
  await manager.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, probe) VALUES ($1, $2, $3, 'reprobe', 'pending', $4, $5)`, [
    jobId,
    ctx.trackerId,
    ctx.deviceId,
    requestedAt,
    JSON.stringify(probe),
  ]);
  return { jobId, trackerId: ctx.trackerId, trigger: 'reprobe', requestedAt: requestedAt.toISOString() };
}

/** One statement per few thousand items, rows as one JSON document (no per-value parameters to build). */
async function upsertItems(manager: EntityManager, upserts: readonly { ctx: WriteContext; item: Item }[]): Promise<void> {
  // The last of each item (ON CONFLICT cannot touch one row twice in a statement).
  const rows = [...new Map(upserts.map((u) => [`${u.ctx.trackerId} ${itemId(u.item)}`, u])).values()];
  for (let i = 0; i < rows.length; i += 5_000) {
    await manager.query(
      `INSERT INTO current_items (tracker_id, host, item_type, item_key, device_id, attributes, first_seen_at, last_seen_at, last_job_id)
       SELECT v.tracker_id, v.host, v.type, v.key, v.device_id, v.attributes, v.observed_at, v.observed_at, v.job_id
         FROM jsonb_to_recordset($1::jsonb) AS v(tracker_id uuid, host text, type text, key text, device_id uuid, attributes jsonb, observed_at timestamptz, job_id uuid)
       ON CONFLICT (tracker_id, host, item_type, item_key) DO UPDATE SET attributes = EXCLUDED.attributes, last_seen_at = EXCLUDED.last_seen_at, last_job_id = EXCLUDED.last_job_id`,
      [
        JSON.stringify(
          rows.slice(i, i + 5_000).map(({ ctx, item }) => ({ tracker_id: ctx.trackerId, host: item.host, type: item.type, key: item.key, device_id: ctx.deviceId, attributes: item.attributes, observed_at: ctx.observedAt, job_id: ctx.jobId })),
        ),
      ],
    );
  }
}

async function deleteItems(manager: EntityManager, removals: readonly { trackerId: string; item: Item }[]): Promise<void> {
  if (!removals.length) return;
  await manager.query(
    `DELETE FROM current_items c USING unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS r(tracker_id, host, item_type, item_key)
      WHERE c.tracker_id = r.tracker_id AND c.host = r.host AND c.item_type = r.item_type AND c.item_key = r.item_key`,
    [removals.map((r) => r.trackerId), removals.map((r) => r.item.host), removals.map((r) => r.item.type), removals.map((r) => r.item.key)],
  );
}

/**
 * Items a coverage change moved in or out of the baseline raise no event; the audit log keeps
 * them (with their attributes), so the baseline at a past time can still be rebuilt.
 */
async function recordCoverageMoves(manager: EntityManager, moves: readonly { ctx: WriteContext; action: string; item: Item }[]): Promise<void> {
  if (!moves.length) return;
  await manager.query(
    `INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, justification, details)
     SELECT gen_random_uuid(), v.at, 'comparer', v.action, 'device', v.device_id, 'the coverage of the tracker changed', v.details
       FROM jsonb_to_recordset($1::jsonb) AS v(at timestamptz, action text, device_id uuid, details jsonb)`,
    [
      JSON.stringify(
        moves.map(({ ctx, action, item }) => ({
          at: ctx.observedAt,
          action,
          device_id: ctx.deviceId,
          details: { trackerId: ctx.trackerId, jobId: ctx.jobId, host: item.host, itemType: item.type, itemKey: item.key, attributes: item.attributes },
        })),
      ),
    ],
  );
}

function event(ctx: WriteContext, kind: NewEvent['kind'], item: Item, before: Item | null, after: Item | null, extra: Record<string, unknown> = {}, observedAt = ctx.observedAt): NewEvent {
  return {
    kind,
    deviceId: ctx.deviceId,
    trackerId: ctx.trackerId,
    jobId: ctx.jobId,
    host: item.host,
    itemType: item.type,
    itemKey: item.key,
    before: before ? { ...before.attributes } : null,
    after: after ? { ...after.attributes } : null,
    details: Object.keys(extra).length ? extra : null,
    occurredAt: ctx.now,
    observedAt,
  };
}

/** A stored item reference as an item, enough to ask whether a scan covered it. */
function pendingItem(r: Pick<PendingRow, 'host' | 'item_type' | 'item_key' | 'after' | 'before'>): Item {
  const port = r.item_type === PORT_ITEM_TYPE ? parsePortKey(r.item_key) : undefined;
  const attributes = r.after ?? r.before ?? (port ? { protocol: port.protocol, port: port.port } : {});
  return { type: r.item_type, host: r.host, key: r.item_key, attributes };
}
