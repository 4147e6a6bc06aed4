import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { Logger } from '@portolan/logging';
import { PlannedChangeEntity, PlannedRuleRecord } from '@portolan/persistence';
import { ClassifiableChange, classifyChange, CompiledPlannedChange, compilePlannedChange, exactRule, PlannedMatch } from '@portolan/planning';
import { NewEvent } from './event.recorder';
import { LOGGER } from './tokens';

interface PlannedChangeRow {
  id: string;
  status: 'draft' | 'approved';
  mode: 'rules' | 'recording';
  window_start: Date;
  window_end: Date | null;
  device_ids: string[];
  group_ids: string[];
  rules: PlannedRuleRecord[];
}

/** A planned change as stored, compiled for matching. */
export function compileStored(row: Pick<PlannedChangeEntity, 'id' | 'status' | 'mode' | 'windowStart' | 'windowEnd' | 'deviceIds' | 'groupIds' | 'rules'>): CompiledPlannedChange {
  return compilePlannedChange({
    id: row.id,
    status: row.status,
    mode: row.mode,
    start: new Date(row.windowStart),
    end: row.windowEnd ? new Date(row.windowEnd) : null,
    deviceIds: row.deviceIds,
    groupIds: row.groupIds,
    rules: row.rules,
  });
}

/** The key that makes two proposals of one planned change the same rule. */
export function ruleKey(rule: PlannedRuleRecord): string {
  return JSON.stringify([rule.trackerId, rule.itemType, [...(rule.kinds ?? [])].sort(), rule.keyPattern]);
}

/**
 * Classifies change events as planned or unplanned when the comparer records them: the
 * approved planned changes whose window holds the observation and whose scope holds the
 * device (directly or through one of its groups) are loaded once per result, and each event is
 * matched against them (`@portolan/planning`). A change that recording mode planned becomes a
 * proposed rule of that planned change.
 */
@Injectable()
export class PlannedChangeStore {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  /** The devices' groups, and the approved planned changes that may cover any of them between `from` and `to`. */
  private async candidatesMany(manager: EntityManager, deviceIds: readonly string[], from: Date, to: Date): Promise<{ groupsOf: Map<string, string[]>; plans: CompiledPlannedChange[] }> {
    const groups: { device_id: string; group_id: string }[] = await manager.query('SELECT device_id, group_id FROM device_group_members WHERE device_id = ANY($1::uuid[])', [deviceIds]);
    const groupsOf = new Map<string, string[]>();
    for (const g of groups) groupsOf.set(g.device_id, [...(groupsOf.get(g.device_id) ?? []), g.group_id]);
    const rows: PlannedChangeRow[] = await manager.query(
      `SELECT id, status, mode, window_start, window_end, device_ids, group_ids, rules FROM planned_changes
        WHERE status = 'approved' AND window_start <= $2 AND (window_end IS NULL OR window_end >= $4)
          AND (device_ids && $1::uuid[] OR group_ids && $3::uuid[])`,
      [deviceIds, to, [...new Set(groups.map((g) => g.group_id))], from],
    );
    const plans: CompiledPlannedChange[] = [];
    for (const row of rows) {
      try {
        plans.push(compileStored({ id: row.id, status: row.status, mode: row.mode, windowStart: row.window_start, windowEnd: row.window_end, deviceIds: row.device_ids, groupIds: row.group_ids, rules: row.rules }));
      } catch (error) {
        // Stored planned changes were checked when saved; one that no longer compiles classifies nothing.
        this.logger.error({ plannedChangeId: row.id, err: String(error) }, 'a stored planned change does not compile; ignored');
      }
    }
    return { groupsOf, plans };
  }

  /**
   * Sets `plannedChangeId` on the change events of one device, each by its own `observedAt`, and
   * returns them with the matches (for proposals, once the events have ids).
   */
  async classify(manager: EntityManager, deviceId: string, events: readonly NewEvent[]): Promise<{ events: NewEvent[]; matches: (PlannedMatch | undefined)[] }> {
    return this.classifyMany(manager, events.map((e) => ({ ...e, deviceId })));
  }

  /**
   * The same for the change events of many devices: their groups, and the approved planned
   * changes that may cover any of them over the events' times, read in two statements.
   */
  async classifyMany(manager: EntityManager, events: readonly NewEvent[]): Promise<{ events: NewEvent[]; matches: (PlannedMatch | undefined)[] }> {
    const changes = events.filter((e) => e.deviceId && (e.kind === 'added' || e.kind === 'removed' || e.kind === 'modified'));
    if (!changes.length) return { events: [...events], matches: events.map(() => undefined) };
    const times = changes.map((e) => (e.observedAt ?? e.occurredAt).getTime());
    const deviceIds = [...new Set(changes.map((e) => e.deviceId as string))];
    const { groupsOf, plans } = await this.candidatesMany(manager, deviceIds, new Date(Math.min(...times)), new Date(Math.max(...times)));
    const matches = events.map((e) => {
      if (!plans.length || !e.deviceId || (e.kind !== 'added' && e.kind !== 'removed' && e.kind !== 'modified')) return undefined;
      return classifyChange(classifiable({ ...e, deviceId: e.deviceId }, groupsOf.get(e.deviceId) ?? [], e.observedAt ?? e.occurredAt), plans);
    });
    return { events: events.map((e, i) => ({ ...e, plannedChangeId: matches[i]?.plannedChangeId ?? null })), matches };
  }

  /** Recording mode: each change it planned becomes (or counts again for) a proposed rule. */
  async recordProposals(manager: EntityManager, rows: readonly { id: string; kind: string; trackerId: string | null; itemType: string | null; itemKey: string | null; observedAt: Date | null }[], matches: readonly (PlannedMatch | undefined)[]): Promise<void> {
    const proposals = rows.flatMap((row, i) => {
      const match = matches[i];
      if (match?.rule !== 'recording') return [];
      const rule = exactRule(row) as PlannedRuleRecord;
      return [{ planned_change_id: match.plannedChangeId, rule_key: ruleKey(rule), rule, event_id: row.id, at: row.observedAt }];
    });
    if (!proposals.length) return;
    const unique = [...new Map(proposals.map((p) => [`${p.planned_change_id} ${p.rule_key}`, p])).values()];
    await manager.query(
      `INSERT INTO planned_change_proposals (planned_change_id, rule_key, rule, first_event_id, seen, first_seen_at, last_seen_at)
       SELECT v.planned_change_id, v.rule_key, v.rule, v.event_id, 1, v.at, v.at
         FROM jsonb_to_recordset($1::jsonb) AS v(planned_change_id uuid, rule_key text, rule jsonb, event_id uuid, at timestamptz)
       ON CONFLICT (planned_change_id, rule_key) DO UPDATE SET seen = planned_change_proposals.seen + 1,
         last_seen_at = GREATEST(planned_change_proposals.last_seen_at, EXCLUDED.last_seen_at)`,
      [JSON.stringify(unique)],
    );
  }
}

export function classifiable(e: { kind: string; deviceId: string; trackerId: string | null; itemType?: string | null; itemKey?: string | null }, groupIds: readonly string[], observedAt: Date): ClassifiableChange {
  return { kind: e.kind, deviceId: e.deviceId, groupIds, trackerId: e.trackerId, itemType: e.itemType ?? null, itemKey: e.itemKey ?? null, observedAt };
}
