import { KeyPattern, KeyPatternError, matchesKey, parseKeyPattern } from '@portolan/planning';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One line of a rule's severity mapping: the events it describes (an absent field does not narrow) get its severity. */
export interface SeverityMapping {
  readonly kinds?: readonly string[];
  readonly keyPattern?: string | null;
  readonly planned?: 'unplanned' | 'planned' | 'both';
  readonly severity: Severity;
}

/**
 * An alert rule as stored: a scope (empty: the whole estate), a filter, a severity mapping (the
 * first line that describes the event gives its severity; `severity` otherwise), channels.
 * `filter.minSeverity` keeps only events whose severity is at least that.
 */
export interface AlertRuleDefinition {
  readonly id: string;
  readonly enabled: boolean;
  readonly scope: { readonly deviceIds: readonly string[]; readonly groupIds: readonly string[]; readonly siteIds: readonly string[]; readonly trackerIds: readonly string[] };
  readonly filter: {
    readonly kinds: readonly string[];
    readonly itemTypes: readonly string[];
    readonly planned: 'unplanned' | 'planned' | 'both';
    readonly keyPattern: string | null;
    readonly minSeverity?: Severity | null;
    /** Communications events: only these (`scan-failed`, `agent-offline`, `alert-channel-degraded`, …); empty: all. Other events pass. */
    readonly what?: readonly string[];
  };
  readonly severity: Severity;
  readonly severityMap?: readonly SeverityMapping[];
  readonly channelIds: readonly string[];
  /** Storm control: at most `maxAlerts` events alerted per `windowSeconds`; the rest in one summary. */
  readonly storm?: { readonly maxAlerts: number; readonly windowSeconds: number } | null;
}

/** The fixed storm-control window an instant falls in. */
export function stormWindow(at: Date, windowSeconds: number): Date {
  const ms = windowSeconds * 1000;
  return new Date(Math.floor(at.getTime() / ms) * ms);
}

/** What a rule is matched against: the event and the facts of its device. */
export interface AlertableEvent {
  readonly kind: string;
  /** Null for events of the hub itself: only rules scoped to no device, group or site match them. */
  readonly deviceId: string | null;
  readonly groupIds: readonly string[];
  readonly siteId: string | null;
  readonly trackerId: string | null;
  readonly itemType: string | null;
  readonly itemKey: string | null;
  readonly planned: boolean;
  /** Communications events: what happened (`details.what`). */
  readonly what?: string | null;
}

export interface CompiledAlertRule extends AlertRuleDefinition {
  readonly pattern?: KeyPattern;
  readonly mappings: readonly (SeverityMapping & { readonly pattern?: KeyPattern })[];
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export class AlertRuleError extends Error {
  override readonly name = 'AlertRuleError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Checks a rule (its key patterns, that it has channels) and compiles it for matching. */
export function compileAlertRule(rule: AlertRuleDefinition): CompiledAlertRule {
  if (!rule.channelIds.length) throw new AlertRuleError('channelIds', 'a rule needs at least one channel');
  const itemType = rule.filter.itemTypes.length === 1 ? rule.filter.itemTypes[0] : undefined;
  const compile = (text: string, field: string): KeyPattern => {
    try {
      return parseKeyPattern(text, itemType);
    } catch (error) {
      if (error instanceof KeyPatternError) throw new AlertRuleError(field, error.message);
      throw error;
    }
  };
  const mappings = (rule.severityMap ?? []).map((m, i) => (m.keyPattern ? { ...m, pattern: compile(m.keyPattern, `severityMap[${i}].keyPattern`) } : m));
  return { ...rule, mappings, ...(rule.filter.keyPattern ? { pattern: compile(rule.filter.keyPattern, 'filter.keyPattern') } : {}) };
}

/** The severity a rule gives an event: that of the first mapping line describing it, else the rule's. */
export function alertSeverity(rule: CompiledAlertRule, event: Pick<AlertableEvent, 'kind' | 'itemKey' | 'planned'>): Severity {
  const line = rule.mappings.find(
    (m) =>
      (!m.kinds?.length || m.kinds.includes(event.kind)) &&
      (!m.pattern || (event.itemKey !== null && matchesKey(m.pattern, event.itemKey))) &&
      !(m.planned === 'unplanned' && event.planned) &&
      !(m.planned === 'planned' && !event.planned),
  );
  return line?.severity ?? rule.severity;
}

/** Whether a rule fires for an event. An empty scope list or filter list does not narrow. */
export function ruleMatches(rule: CompiledAlertRule, event: AlertableEvent): boolean {
  if (!rule.enabled) return false;
  const { scope, filter } = rule;
  const everywhere = !scope.deviceIds.length && !scope.groupIds.length && !scope.siteIds.length;
  if (!everywhere && !(event.deviceId && scope.deviceIds.includes(event.deviceId)) && !event.groupIds.some((g) => scope.groupIds.includes(g)) && !(event.siteId && scope.siteIds.includes(event.siteId))) return false;
  if (scope.trackerIds.length && (!event.trackerId || !scope.trackerIds.includes(event.trackerId))) return false;
  if (filter.kinds.length && !filter.kinds.includes(event.kind)) return false;
  if (filter.itemTypes.length && (!event.itemType || !filter.itemTypes.includes(event.itemType))) return false;
  if (filter.planned === 'unplanned' && event.planned) return false;
  if (filter.planned === 'planned' && !event.planned) return false;
  if (rule.pattern && (!event.itemKey || !matchesKey(rule.pattern, event.itemKey))) return false;
  if (filter.what?.length && event.kind === 'communications' && !(event.what && filter.what.includes(event.what))) return false;
  if (filter.minSeverity && RANK[alertSeverity(rule, event)] < RANK[filter.minSeverity]) return false;
  return true;
}

/**
 * The delay before delivery attempt `attempt` (1-based) is retried: exponential from 1 s, capped
 * at 5 minutes, with full jitter (a random share of it), so that a receiver coming back is not
 * hit by every sender at the same instant.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(300_000, 1_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
