import { KeyPattern, KeyPatternError, matchesKey, parseKeyPattern } from './key-pattern';

export const CHANGE_KINDS = ['added', 'removed', 'modified'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];
export type PlannedChangeStatus = 'draft' | 'approved';
/** `rules`: only changes matching a rule are planned. `recording`: every change in scope is, and becomes a proposed rule. */
export type PlannedChangeMode = 'rules' | 'recording';

/** A rule as an operator writes it: every field it leaves out matches anything. */
export interface PlannedRuleDefinition {
  readonly trackerId?: string | null;
  readonly itemType?: string | null;
  readonly kinds?: readonly ChangeKind[] | null;
  readonly keyPattern?: string | null;
}

export interface PlannedChangeDefinition {
  readonly id: string;
  readonly status: PlannedChangeStatus;
  readonly mode: PlannedChangeMode;
  readonly start: Date;
  /** Null: open-ended. */
  readonly end: Date | null;
  readonly deviceIds: readonly string[];
  readonly groupIds: readonly string[];
  readonly rules: readonly PlannedRuleDefinition[];
}

interface CompiledRule {
  readonly trackerId?: string;
  readonly itemType?: string;
  readonly kinds?: ReadonlySet<ChangeKind>;
  readonly pattern?: KeyPattern;
}

export interface CompiledPlannedChange {
  readonly id: string;
  readonly approved: boolean;
  readonly recording: boolean;
  readonly start: number;
  readonly end: number;
  readonly deviceIds: ReadonlySet<string>;
  readonly groupIds: ReadonlySet<string>;
  readonly rules: readonly CompiledRule[];
}

/** What is classified: one change event about to be recorded (or recorded already). */
export interface ClassifiableChange {
  readonly kind: string;
  readonly deviceId: string;
  /** The groups the device is in. */
  readonly groupIds: readonly string[];
  readonly trackerId: string | null;
  readonly itemType: string | null;
  readonly itemKey: string | null;
  /** When the change was observed (the scan's start), which is what a window is about. */
  readonly observedAt: Date;
}

export interface PlannedMatch {
  readonly plannedChangeId: string;
  /** The index of the rule that matched, or `recording`. */
  readonly rule: number | 'recording';
}

/** A planned change that cannot be: `field` names where (`end`, `rules[2].keyPattern`). */
export class PlannedChangeError extends Error {
  override readonly name = 'PlannedChangeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * Checks and compiles a planned change. Throws PlannedChangeError naming the field: an end at or
 * before the start, an empty scope (a planned change for "everything" would hide every change in
 * the estate), a rule's invalid pattern or unknown change kind.
 */
export function compilePlannedChange(definition: PlannedChangeDefinition): CompiledPlannedChange {
  const start = definition.start.getTime();
  if (Number.isNaN(start)) throw new PlannedChangeError('start', 'is not a valid time');
  const end = definition.end === null ? Number.POSITIVE_INFINITY : definition.end.getTime();
  if (Number.isNaN(end)) throw new PlannedChangeError('end', 'is not a valid time');
  if (end <= start) throw new PlannedChangeError('end', `${definition.end?.toISOString()} is not after the start ${definition.start.toISOString()}`);
  if (!definition.deviceIds.length && !definition.groupIds.length) throw new PlannedChangeError('scope', 'name at least one device or group');
  if (definition.mode === 'rules' && !definition.rules.length) throw new PlannedChangeError('rules', 'a planned change in rules mode needs at least one rule (or use recording mode)');
  return {
    id: definition.id,
    approved: definition.status === 'approved',
    recording: definition.mode === 'recording',
    start,
    end,
    deviceIds: new Set(definition.deviceIds),
    groupIds: new Set(definition.groupIds),
    rules: definition.rules.map((rule, i) => compileRule(rule, `rules[${i}]`)),
  };
}

function compileRule(rule: PlannedRuleDefinition, where: string): CompiledRule {
  const kinds = rule.kinds?.length ? new Set(rule.kinds) : undefined;
  for (const kind of kinds ?? []) if (!CHANGE_KINDS.includes(kind)) throw new PlannedChangeError(`${where}.kinds`, `unknown change kind "${kind}" (expected ${CHANGE_KINDS.join(', ')})`);
  let pattern: KeyPattern | undefined;
  if (rule.keyPattern) {
    try {
      pattern = parseKeyPattern(rule.keyPattern, rule.itemType ?? undefined);
    } catch (error) {
      if (error instanceof KeyPatternError) throw new PlannedChangeError(`${where}.keyPattern`, error.message);
      throw error;
    }
  }
  return {
    ...(rule.trackerId ? { trackerId: rule.trackerId } : {}),
    ...(rule.itemType ? { itemType: rule.itemType } : {}),
    ...(kinds ? { kinds } : {}),
    ...(pattern ? { pattern } : {}),
  };
}

/** Whether the change's device is in the planned change's scope and its observation inside the window (both ends included). */
export function inWindowAndScope(plan: CompiledPlannedChange, change: ClassifiableChange): boolean {
  const at = change.observedAt.getTime();
  if (at < plan.start || at > plan.end) return false;
  return plan.deviceIds.has(change.deviceId) || change.groupIds.some((g) => plan.groupIds.has(g));
}

function ruleMatches(rule: CompiledRule, change: ClassifiableChange): boolean {
  if (rule.trackerId && rule.trackerId !== change.trackerId) return false;
  if (rule.itemType && rule.itemType !== change.itemType) return false;
  if (rule.kinds && !rule.kinds.has(change.kind as ChangeKind)) return false;
  if (rule.pattern && (change.itemKey === null || !matchesKey(rule.pattern, change.itemKey))) return false;
  return true;
}

/**
 * The planned change a change event belongs to, or undefined (unplanned). Only approved
 * planned changes classify, and only changes (added, removed, modified): baseline and
 * communications events are never planned. Where several match (overlapping windows), the one
 * that started first wins, then the lowest id, so the answer never depends on the order given.
 */
export function classifyChange(change: ClassifiableChange, plans: readonly CompiledPlannedChange[]): PlannedMatch | undefined {
  if (!CHANGE_KINDS.includes(change.kind as ChangeKind)) return undefined;
  let best: { plan: CompiledPlannedChange; rule: number | 'recording' } | undefined;
  for (const plan of plans) {
    if (!plan.approved || !inWindowAndScope(plan, change)) continue;
    const rule = plan.rules.findIndex((r) => ruleMatches(r, change));
    const matched = rule >= 0 ? rule : plan.recording ? 'recording' : undefined;
    if (matched === undefined) continue;
    if (!best || plan.start < best.plan.start || (plan.start === best.plan.start && plan.id < best.plan.id)) best = { plan, rule: matched };
  }
  return best && { plannedChangeId: best.plan.id, rule: best.rule };
}

/** The rule that matches exactly this change: what recording mode proposes, and what "plan these events" makes. */
export function exactRule(change: Pick<ClassifiableChange, 'kind' | 'trackerId' | 'itemType' | 'itemKey'>): PlannedRuleDefinition {
  const key = change.itemKey;
  const escape = (text: string) => text.replace(/[\\*?]/g, '\\$&');
  // A port key's bind address is a glob in a pattern (`*` is what ss shows for "any address").
  const at = key?.indexOf('@') ?? -1;
  const keyPattern = key === null ? null : change.itemType !== 'port' ? escape(key) : at < 0 ? key : `${key.slice(0, at)}@${escape(key.slice(at + 1))}`;
  return {
    trackerId: change.trackerId,
    itemType: change.itemType,
    kinds: CHANGE_KINDS.includes(change.kind as ChangeKind) ? [change.kind as ChangeKind] : null,
    keyPattern,
  };
}

/** Rules without duplicates (same tracker, type, kinds and pattern), first kept. */
export function uniqueRules(rules: readonly PlannedRuleDefinition[]): PlannedRuleDefinition[] {
  const seen = new Set<string>();
  return rules.filter((r) => {
    const id = JSON.stringify([r.trackerId ?? null, r.itemType ?? null, [...(r.kinds ?? [])].sort(), r.keyPattern ?? null]);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
