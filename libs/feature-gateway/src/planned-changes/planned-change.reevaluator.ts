import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { PlannedChangeEntity } from '@portolan/persistence';
import { classifyChange, CompiledPlannedChange } from '@portolan/planning';
import { classifiable, compileStored, countEvents, DATA_SOURCE, queueResolvesSql } from '@portolan/platform';

/** Events read and updated per transaction. */
const BATCH = 5_000;
/** At most this many batches per request (10 million events). */
const MAX_BATCHES = 2_000;
/** The channels (alias `c`) whose incidents a planned change resolves: PagerDuty, unless it says `resolveWhenPlanned: false`. */
const RESOLVED_WHEN_PLANNED = `c.type = 'pagerduty' AND COALESCE((c.settings->>'resolveWhenPlanned')::boolean, true)`;

export interface ReevaluationResult {
  readonly since: Date;
  /** Change events in the planned change's scope recorded since then. */
  readonly examined: number;
  /** Events now planned that were not, or planned by another change before. */
  readonly nowPlanned: number;
  /** Events that were planned and no longer are. */
  readonly nowUnplanned: number;
}

interface CandidateRow {
  id: string;
  occurred_at: Date;
  kind: string;
  device_id: string;
  tracker_id: string | null;
  item_type: string | null;
  item_key: string | null;
  observed_at: Date;
  planned_change_id: string | null;
  group_ids: string[];
}

/**
 * Classifies again the change events recorded since a time in one planned change's scope, with
 * the approved planned changes as they are now: the same answer the comparer would have given
 * had they been so when the events were recorded. Works in batches, each its own transaction,
 * so a long history never holds one huge transaction.
 */
@Injectable()
export class PlannedChangeReevaluator {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async reevaluate(plan: PlannedChangeEntity, since: Date): Promise<ReevaluationResult> {
    const plans = await this.approvedSince(since);
    let examined = 0;
    let nowPlanned = 0;
    let nowUnplanned = 0;
    let after: { at: Date; id: string } | undefined;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const rows = await this.candidates(plan, since, after);
      if (!rows.length) break;
      examined += rows.length;
      const changed = rows.flatMap((row) => {
        const match = classifyChange(classifiable({ kind: row.kind, deviceId: row.device_id, trackerId: row.tracker_id, itemType: row.item_type, itemKey: row.item_key }, row.group_ids, new Date(row.observed_at)), plans);
        const next = match?.plannedChangeId ?? null;
        if (next === row.planned_change_id) return [];
        if (next && !row.planned_change_id) nowPlanned++;
        else if (!next) nowUnplanned++;
        else nowPlanned++;
        return [{ id: row.id, at: row.occurred_at, plannedChangeId: next, deviceId: row.device_id, kind: row.kind, wasPlanned: row.planned_change_id !== null }];
      });
      if (changed.length) {
        await this.db.transaction(async (manager) => {
          await manager.query(
            `UPDATE events e SET planned = v.planned_change_id IS NOT NULL, planned_change_id = v.planned_change_id
               FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, at timestamptz, planned_change_id uuid)
              WHERE e.occurred_at = v.at AND e.id = v.id`,
            [JSON.stringify(changed.map((c) => ({ id: c.id, at: c.at, planned_change_id: c.plannedChangeId })))],
          );
          // The daily counts move with the flag: one fewer on the side it left, one more where it went.
          await countEvents(
            manager,
            changed.flatMap((c) => [
              { day: c.at, deviceId: c.deviceId, kind: c.kind, planned: c.wasPlanned, n: -1 },
              { day: c.at, deviceId: c.deviceId, kind: c.kind, planned: c.plannedChangeId !== null, n: 1 },
            ]),
          );
          await this.resolveIncidents(manager, changed.filter((c) => c.plannedChangeId && !c.wasPlanned));
        });
      }
      const last = rows[rows.length - 1];
      after = { at: last.occurred_at, id: last.id };
      if (rows.length < BATCH) break;
    }
    return { since, examined, nowPlanned, nowUnplanned };
  }

  /**
   * PagerDuty incidents opened for changes that a planned change now covers are resolved: one
   * resolve delivery per trigger that was delivered to a channel that resolves (the default), and
   * triggers not delivered yet are cancelled (one being sent meanwhile is resolved by alerting
   * once it is recorded delivered); stored with the reclassification, sent by alerting like any
   * delivery, its own dedupe key keeping it once.
   */
  private async resolveIncidents(manager: EntityManager, nowPlanned: readonly { id: string }[]): Promise<void> {
    if (!nowPlanned.length) return;
    const eventIds = nowPlanned.map((c) => c.id);
    // Triggers not delivered yet (waiting for a retry, or dead) are not sent at all.
    await manager.query(
      `UPDATE alert_deliveries d SET status = 'cancelled', last_error = 'not sent: a planned change covers the change now'
         FROM alert_channels c
        WHERE d.event_id = ANY($1::uuid[]) AND d.status IN ('pending', 'dead') AND NOT (d.alert ? 'resolves') AND c.id = d.channel_id AND ${RESOLVED_WHEN_PLANNED}`,
      [eventIds],
    );
    await manager.query(
      queueResolvesSql(`(SELECT d.* FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id AND ${RESOLVED_WHEN_PLANNED}
                          WHERE d.event_id = ANY($1::uuid[]) AND d.status = 'delivered') t`),
      [eventIds],
    );
  }

  /** Approved planned changes whose window reaches past `since`. */
  private async approvedSince(since: Date): Promise<CompiledPlannedChange[]> {
    const rows = await this.db
      .getRepository(PlannedChangeEntity)
      .createQueryBuilder('p')
      .where(`p.status = 'approved' AND (p.window_end IS NULL OR p.window_end >= :since)`, { since })
      .getMany();
    return rows.map(compileStored);
  }

  private candidates(plan: PlannedChangeEntity, since: Date, after?: { at: Date; id: string }): Promise<CandidateRow[]> {
    const params: unknown[] = [since, plan.deviceIds, plan.groupIds, BATCH, plan.id];
    let keyset = '';
    if (after) {
      params.push(after.at, after.id);
      keyset = 'AND (e.occurred_at, e.id) > ($6, $7)';
    }
    return this.db.query(
      `SELECT e.id, e.occurred_at, e.kind, e.device_id, e.tracker_id, e.item_type, e.item_key, COALESCE(e.observed_at, e.occurred_at) AS observed_at, e.planned_change_id,
              ARRAY(SELECT m.group_id FROM device_group_members m WHERE m.device_id = e.device_id) AS group_ids
         FROM events e
        WHERE e.occurred_at >= $1 AND e.kind IN ('added', 'removed', 'modified')
          AND (e.device_id = ANY($2::uuid[]) OR e.device_id IN (SELECT m.device_id FROM device_group_members m WHERE m.group_id = ANY($3::uuid[]))
               OR e.planned_change_id = $5)
          ${keyset}
        ORDER BY e.occurred_at, e.id
        LIMIT $4`,
      params,
    );
  }
}
