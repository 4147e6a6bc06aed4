export interface FlappingPolicy {
  /** More than this many changes of one item inside the window is flapping. */
  readonly threshold: number;
  readonly windowMs: number;
}

/** What is remembered of one item's recent changes. */
export interface FlapState {
  /** Times (ms) of its recent confirmed changes, oldest first, at most threshold + 1. */
  readonly changes: readonly number[];
  /** Since when it is flapping; null when it is not. */
  readonly flappingSince: number | null;
}

export interface FlapStep {
  /** The state to keep; null when there is nothing worth remembering. */
  readonly state: FlapState | null;
  /** `started`: report one flapping-started event; `stopped`: one flapping-stopped. */
  readonly emit: 'started' | 'stopped' | null;
  /** Whether this scan's change (if any) is reported as a change event: never while flapping. */
  readonly report: boolean;
}

/**
 * One scan's step of an item's flapping state machine. An item that changes more than
 * `threshold` times within `windowMs` starts flapping: that change raises one flapping-started
 * event instead of its change event, and further changes are quiet (the baseline still follows
 * them). A flapping item that has not changed for a whole window stops flapping with one
 * flapping-stopped event, which carries the state it settled in.
 *
 * `changedAt` is the observation time of this scan's change of the item, or null when this scan
 * saw the item unchanged; `now` is the observation time of the scan.
 */
export function stepFlapping(state: FlapState | null, changedAt: number | null, now: number, policy: FlappingPolicy): FlapStep {
  const since = (changedAt ?? now) - policy.windowMs;
  const changes = [...(state?.changes ?? []), ...(changedAt === null ? [] : [changedAt])].filter((t) => t > since).slice(-(policy.threshold + 1));
  const flapping = state?.flappingSince ?? null;
  if (flapping !== null) {
    const last = changes.length ? changes[changes.length - 1] : Number.NEGATIVE_INFINITY;
    if (changedAt === null && now - last >= policy.windowMs) return { state: null, emit: 'stopped', report: false };
    return { state: { changes, flappingSince: flapping }, emit: null, report: false };
  }
  if (changedAt !== null && changes.length > policy.threshold) return { state: { changes, flappingSince: changedAt }, emit: 'started', report: false };
  return { state: changes.length ? { changes, flappingSince: null } : null, emit: null, report: changedAt !== null };
}
