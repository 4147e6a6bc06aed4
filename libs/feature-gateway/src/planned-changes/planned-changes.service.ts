import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AuditEntryEntity, PlannedChangeEntity, PlannedChangeProposalEntity, PlannedRuleRecord } from '@portolan/persistence';
import { compilePlannedChange, exactRule, PlannedChangeError, PlannedRuleDefinition, uniqueRules } from '@portolan/planning';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { audit, AuditCaller } from '../audit/audit.log';
import { decodeCursor, Page, pageOf } from '../http/pagination';
import { requireExisting } from '../http/references';
import {
  ApprovePlannedChange,
  ConfirmProposals,
  CreatePlannedChange,
  ExtendWithEvents,
  ListPlannedChanges,
  PlanFromEvents,
  UpdatePlannedChange,
} from './planned-change.dto';
import { PlannedChangeReevaluator, ReevaluationResult } from './planned-change.reevaluator';

const DEFAULT_REEVALUATE_DAYS = 7;
const DAY_MS = 86_400_000;

export interface PlannedChangeView {
  id: string;
  name: string;
  description: string | null;
  status: 'draft' | 'approved';
  mode: 'rules' | 'recording';
  window: { start: Date; end: Date | null };
  scope: { deviceIds: string[]; groupIds: string[] };
  rules: PlannedRuleRecord[];
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  approvedBy: string | null;
  approvedAt: Date | null;
}

export interface PlannedChangeDetail extends PlannedChangeView {
  /** What recording mode proposes, until confirmed. */
  proposals: { ruleKey: string; rule: PlannedRuleRecord; seen: number; firstSeenAt: Date; lastSeenAt: Date; firstEventId: string }[];
  /** Events this planned change classified as planned. */
  plannedEvents: number;
  /** Each step: `actor` as the call named it, `calledBy` the operator token it was made with. */
  history: { at: Date; actor: string; calledBy: string | null; action: string; justification: string | null; details: Record<string, unknown> | null }[];
}

interface ChangeEventRow {
  id: string;
  kind: string;
  device_id: string;
  tracker_id: string | null;
  item_type: string | null;
  item_key: string | null;
  observed_at: Date;
}

/**
 * Planned changes: created as drafts, approved by a named approver, and only then classifying
 * events. An edit that widens what a planned change covers (window, scope, mode, rules) sends an
 * approved one back to draft: an approval covers what was approved. Approving re-evaluates the
 * change events of the last 7 days (or since a given time). Every step is in the audit log.
 */
@Injectable()
export class PlannedChangesService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly reevaluator: PlannedChangeReevaluator,
  ) {}

  async create(body: CreatePlannedChange, caller?: AuditCaller): Promise<PlannedChangeView> {
    const now = new Date();
    const row = Object.assign(new PlannedChangeEntity(), {
      id: randomUUID(),
      name: body.name,
      description: body.description ?? null,
      status: 'draft' as const,
      mode: body.mode,
      windowStart: new Date(body.start),
      windowEnd: body.end ? new Date(body.end) : null,
      deviceIds: unique(body.scope.deviceIds),
      groupIds: unique(body.scope.groupIds),
      rules: uniqueRules(body.rules).map(ruleRecord),
      createdBy: body.createdBy,
      createdAt: now,
      updatedAt: now,
      approvedBy: null,
      approvedAt: null,
    });
    await this.db.transaction(async (manager) => {
      await this.check(manager, row);
      await manager.insert(PlannedChangeEntity, row);
      await audit(manager, caller, body.createdBy, 'planned-change.created', row.id, null, { name: row.name });
    });
    this.logger.info({ plannedChangeId: row.id, createdBy: body.createdBy }, 'planned change created');
    return view(row);
  }

  async list(query: ListPlannedChanges): Promise<Page<PlannedChangeView>> {
    const qb = this.db.getRepository(PlannedChangeEntity).createQueryBuilder('p').orderBy('p.created_at', 'DESC').addOrderBy('p.id', 'DESC').take(query.limit + 1);
    if (query.status) qb.andWhere('p.status = :status', { status: query.status });
    if (query.activeAt) qb.andWhere('p.window_start <= :at AND (p.window_end IS NULL OR p.window_end >= :at)', { at: new Date(query.activeAt) });
    if (query.cursor) {
      const { at, id } = decodeCursor(query.cursor);
      qb.andWhere('(p.created_at, p.id) < (:cat, :cid)', { cat: at, cid: id });
    }
    const page = pageOf(await qb.getMany(), query.limit, (r) => r.createdAt);
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }

  async get(id: string): Promise<PlannedChangeDetail> {
    const row = await this.load(this.db.manager, id);
    const proposals = await this.db.getRepository(PlannedChangeProposalEntity).find({ where: { plannedChangeId: id }, order: { firstSeenAt: 'ASC' } });
    const [{ count }] = await this.db.query('SELECT count(*)::int AS count FROM events WHERE planned_change_id = $1', [id]);
    const history = await this.db.getRepository(AuditEntryEntity).find({ where: { subjectType: 'planned-change', subjectId: id }, order: { at: 'ASC' }, take: 500 });
    return {
      ...view(row),
      proposals: proposals.map((p) => ({ ruleKey: p.ruleKey, rule: p.rule, seen: p.seen, firstSeenAt: p.firstSeenAt, lastSeenAt: p.lastSeenAt, firstEventId: p.firstEventId })),
      plannedEvents: count,
      history: history.map((h) => ({ at: h.at, actor: h.actor, calledBy: h.callerName, action: h.action, justification: h.justification, details: h.details })),
    };
  }

  async update(id: string, body: UpdatePlannedChange, caller?: AuditCaller): Promise<PlannedChangeView> {
    return this.db.transaction(async (manager) => {
      const row = await this.load(manager, id, true);
      const widening = body.start !== undefined || body.end !== undefined || body.mode !== undefined || body.scope !== undefined || body.rules !== undefined;
      const next: PlannedChangeEntity = Object.assign(new PlannedChangeEntity(), row, {
        name: body.name ?? row.name,
        description: body.description === undefined ? row.description : body.description,
        mode: body.mode ?? row.mode,
        windowStart: body.start ? new Date(body.start) : row.windowStart,
        windowEnd: body.end === undefined ? row.windowEnd : body.end === null ? null : new Date(body.end),
        deviceIds: body.scope?.deviceIds ? unique(body.scope.deviceIds) : row.deviceIds,
        groupIds: body.scope?.groupIds ? unique(body.scope.groupIds) : row.groupIds,
        rules: body.rules ? uniqueRules(body.rules).map(ruleRecord) : row.rules,
        updatedAt: new Date(),
        ...(widening ? { status: 'draft', approvedBy: null, approvedAt: null } : {}),
      });
      await this.check(manager, next);
      await manager.save(PlannedChangeEntity, next);
      await audit(manager, caller, body.editedBy, 'planned-change.edited', id, body.justification ?? null, { fields: Object.keys(body).filter((k) => k !== 'editedBy' && k !== 'justification'), backToDraft: widening && row.status === 'approved' });
      return view(next);
    });
  }

  async approve(id: string, body: ApprovePlannedChange, caller?: AuditCaller): Promise<PlannedChangeView & { reevaluation: ReevaluationResult | null }> {
    const approved = await this.db.transaction(async (manager) => {
      const row = await this.load(manager, id, true);
      if (row.status === 'approved') throw new DomainError('conflict', `planned change ${id} is approved already (by ${row.approvedBy})`);
      const next = Object.assign(new PlannedChangeEntity(), row, { status: 'approved' as const, approvedBy: body.approvedBy, approvedAt: new Date(), updatedAt: new Date() });
      await this.check(manager, next);
      await manager.save(PlannedChangeEntity, next);
      await audit(manager, caller, body.approvedBy, 'planned-change.approved', id, null, null);
      return next;
    });
    this.logger.info({ plannedChangeId: id, approvedBy: body.approvedBy }, 'planned change approved');
    const reevaluation = body.reevaluateSince === false ? null : await this.runReevaluation(approved, sinceOrDefault(body.reevaluateSince), body.approvedBy, caller);
    return { ...view(approved), reevaluation };
  }

  async reevaluate(id: string, since: string | undefined, requestedBy: string, caller?: AuditCaller): Promise<ReevaluationResult> {
    return this.runReevaluation(await this.load(this.db.manager, id), sinceOrDefault(since), requestedBy, caller);
  }

  /** A new draft that plans exactly the given change events: their devices, their items, their window. */
  async fromEvents(body: PlanFromEvents, caller?: AuditCaller): Promise<PlannedChangeView> {
    const events = await this.changeEvents(body.eventIds);
    const times = events.map((e) => new Date(e.observed_at).getTime());
    const start = body.start ?? new Date(Math.min(...times)).toISOString();
    const end = body.end === undefined ? new Date(Math.max(...times) + 60_000).toISOString() : body.end;
    return this.create({
      name: body.name,
      description: body.description,
      mode: 'rules',
      start,
      end,
      scope: { deviceIds: unique(events.map((e) => e.device_id)), groupIds: [] },
      rules: events.map((e) => ruleRecord(exactRule({ kind: e.kind, trackerId: e.tracker_id, itemType: e.item_type, itemKey: e.item_key }))),
      createdBy: body.createdBy,
    }, caller);
  }

  /** Widens a planned change to plan the given events too (devices, rules, window); an approved one goes back to draft. */
  async extendWithEvents(id: string, body: ExtendWithEvents, caller?: AuditCaller): Promise<PlannedChangeView> {
    const events = await this.changeEvents(body.eventIds);
    const row = await this.load(this.db.manager, id);
    const times = events.map((e) => new Date(e.observed_at).getTime());
    const start = Math.min(new Date(row.windowStart).getTime(), ...times);
    const end = row.windowEnd === null ? null : Math.max(new Date(row.windowEnd).getTime(), Math.max(...times) + 60_000);
    return this.update(id, {
      start: new Date(start).toISOString(),
      end: end === null ? null : new Date(end).toISOString(),
      scope: { deviceIds: unique([...row.deviceIds, ...events.map((e) => e.device_id)]) },
      rules: [...row.rules, ...events.map((e) => ruleRecord(exactRule({ kind: e.kind, trackerId: e.tracker_id, itemType: e.item_type, itemKey: e.item_key })))],
      editedBy: body.editedBy,
      justification: body.justification ?? `extended with ${events.length} event(s)`,
    }, caller);
  }

  /**
   * Makes recording mode's proposals rules. This only narrows what the planned change covers
   * (recording plans every change in scope), so an approved change stays approved.
   */
  async confirmProposals(id: string, body: ConfirmProposals, caller?: AuditCaller): Promise<PlannedChangeView> {
    return this.db.transaction(async (manager) => {
      const row = await this.load(manager, id, true);
      const proposals = await manager.find(PlannedChangeProposalEntity, { where: { plannedChangeId: id } });
      const wanted = body.ruleKeys ? new Set(body.ruleKeys) : undefined;
      const unknown = body.ruleKeys?.filter((k) => !proposals.some((p) => p.ruleKey === k)) ?? [];
      if (unknown.length) throw new DomainError('invalid_payload', `ruleKeys: ${unknown.length} of them are not proposals of planned change ${id}`, { field: 'ruleKeys', unknown: unknown.slice(0, 10) });
      const chosen = proposals.filter((p) => !wanted || wanted.has(p.ruleKey));
      if (!chosen.length && !body.stopRecording) throw new DomainError('invalid_payload', `planned change ${id} has no proposals to confirm`);
      const rules = uniqueRules([...row.rules, ...chosen.map((p) => p.rule)]).map(ruleRecord);
      const next = Object.assign(new PlannedChangeEntity(), row, { rules, mode: body.stopRecording ? 'rules' : row.mode, updatedAt: new Date() });
      await this.check(manager, next);
      await manager.save(PlannedChangeEntity, next);
      if (chosen.length) await manager.delete(PlannedChangeProposalEntity, chosen.map((p) => ({ plannedChangeId: id, ruleKey: p.ruleKey })));
      await audit(manager, caller, body.confirmedBy, 'planned-change.proposals-confirmed', id, null, { rules: chosen.length, stopRecording: body.stopRecording });
      return view(next);
    });
  }

  private async runReevaluation(row: PlannedChangeEntity, since: Date, actor: string, caller?: AuditCaller): Promise<ReevaluationResult> {
    const result = await this.reevaluator.reevaluate(row, since);
    await audit(this.db.manager, caller, actor, 'planned-change.reevaluated', row.id, null, { since: since.toISOString(), examined: result.examined, nowPlanned: result.nowPlanned, nowUnplanned: result.nowUnplanned });
    this.logger.info({ plannedChangeId: row.id, ...result }, 'past events re-evaluated against a planned change');
    return result;
  }

  private async load(manager: EntityManager, id: string, lock = false): Promise<PlannedChangeEntity> {
    const row = await manager.getRepository(PlannedChangeEntity).findOne({ where: { id }, ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}) });
    if (!row) throw new DomainError('not_found', `planned change ${id} does not exist`);
    return row;
  }

  /** The planned change compiles (window, scope, patterns), and every device, group and tracker it names exists. */
  private async check(manager: EntityManager, row: PlannedChangeEntity): Promise<void> {
    try {
      compilePlannedChange({ id: row.id, status: row.status, mode: row.mode, start: new Date(row.windowStart), end: row.windowEnd && new Date(row.windowEnd), deviceIds: row.deviceIds, groupIds: row.groupIds, rules: row.rules });
    } catch (error) {
      if (error instanceof PlannedChangeError) throw new DomainError('invalid_payload', error.message, { field: error.field });
      throw error;
    }
    await requireExisting(manager, 'devices', row.deviceIds, 'scope.deviceIds');
    await requireExisting(manager, 'device_groups', row.groupIds, 'scope.groupIds');
    await requireExisting(manager, 'trackers', unique(row.rules.flatMap((r) => (r.trackerId ? [r.trackerId] : []))), 'rules.trackerId');
  }

  private async changeEvents(ids: readonly string[]): Promise<ChangeEventRow[]> {
    const rows: ChangeEventRow[] = await this.db.query(
      `SELECT id, kind, device_id, tracker_id, item_type, item_key, COALESCE(observed_at, occurred_at) AS observed_at FROM events WHERE id = ANY($1::uuid[])`,
      [unique(ids)],
    );
    const found = new Map(rows.map((r) => [r.id, r]));
    const absent = ids.filter((id) => !found.has(id));
    if (absent.length) throw new DomainError('invalid_payload', `eventIds: ${absent.length} event(s) do not exist, e.g. ${absent[0]}`, { field: 'eventIds', missing: absent.slice(0, 10) });
    const notChanges = rows.filter((r) => !['added', 'removed', 'modified'].includes(r.kind));
    if (notChanges.length) throw new DomainError('invalid_payload', `eventIds: event ${notChanges[0].id} is a ${notChanges[0].kind} event; only changes (added, removed, modified) can be planned`, { field: 'eventIds' });
    return rows;
  }
}

function sinceOrDefault(since: string | undefined): Date {
  return since ? new Date(since) : new Date(Date.now() - DEFAULT_REEVALUATE_DAYS * DAY_MS);
}

function ruleRecord(rule: PlannedRuleDefinition): PlannedRuleRecord {
  return { trackerId: rule.trackerId ?? null, itemType: rule.itemType ?? null, kinds: rule.kinds?.length ? [...rule.kinds] : null, keyPattern: rule.keyPattern ?? null };
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

function view(row: PlannedChangeEntity): PlannedChangeView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    status: row.status,
    mode: row.mode,
    window: { start: row.windowStart, end: row.windowEnd },
    scope: { deviceIds: row.deviceIds, groupIds: row.groupIds },
    rules: row.rules,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    approvedBy: row.approvedBy,
    approvedAt: row.approvedAt,
  };
}
