import { diffItems, Item, itemId } from '@portolan/diff';

export interface HostBaseline {
  readonly host: string;
  /** When the observation that last moved this host's baseline was made. */
  readonly observedAt: Date;
}

export interface HostChange {
  readonly host: string;
  readonly firstPoll: boolean;
  readonly added: Item[];
  readonly removed: Item[];
  readonly modified: { before: Item; after: Item; changed: readonly string[] }[];
  /** The items the host has after applying the observation (within coverage). */
  readonly observed: Item[];
  /** Items newly brought into coverage (a wider port spec, a newly read item type): baselined, not reported. */
  readonly baselined: Item[];
  /** Baseline items taken out of the port coverage (a narrower port spec): they leave the baseline, not reported. */
  readonly dropped: Item[];
}

export interface BaselinePlanInput {
  /** Hosts that were up: the only comparable ones. */
  readonly upHosts: readonly string[];
  readonly baselines: ReadonlyMap<string, HostBaseline>;
  readonly current: readonly Item[];
  readonly observed: readonly Item[];
  /** Whether an item lies in the scanned port coverage. */
  readonly inCoverage: (item: Item) => boolean;
  /**
   * Whether an item lay in the coverage the host's baseline was made over; undefined when that is
   * not known (baselines made before it was recorded), which counts as the same coverage.
   */
  readonly baselineCovers?: (host: string) => ((item: Item) => boolean) | undefined;
  /** Whether an item is a port (only ports leave the baseline when taken out of coverage). */
  readonly isPort?: (item: Item) => boolean;
  /**
   * Whether a port is inside the scanned port ranges (default: `inCoverage`). A port inside the
   * ranges that this observation could not judge (not in coverage, but in range) stays in the baseline.
   */
  readonly inRange?: (item: Item) => boolean;
  readonly observedAt: Date;
  /**
   * The results of this tracker come in their own order (an agent's, applied in the order the hub
   * accepted them), so none is stale whatever its times say: an agent's clock set back, or a run
   * spooled while it ran ahead, must not have its later results skipped.
   */
  readonly ordered?: boolean;
}

/**
 * Pure: what applying one complete observation does to each host's baseline. A host without a
 * baseline gets its first poll (the baseline itself); a host with one gets its differences. A
 * host whose baseline was moved by a newer observation is left alone (stale result), unless the
 * tracker's results come in their own order (`ordered`).
 */
export function planBaselineChanges(input: BaselinePlanInput): { changes: HostChange[]; staleHosts: string[] } {
  const currentByHost = groupByHost(input.current);
  const observedByHost = groupByHost(input.observed);
  const changes: HostChange[] = [];
  const staleHosts: string[] = [];
  for (const host of input.upHosts) {
    const baseline = input.baselines.get(host);
    const observed = (observedByHost.get(host) ?? []).filter(input.inCoverage);
    if (baseline && !input.ordered && baseline.observedAt.getTime() > input.observedAt.getTime()) {
      staleHosts.push(host);
      continue;
    }
    if (!baseline) {
      changes.push({ host, firstPoll: true, added: [], removed: [], modified: [], observed: dedupe(observed), baselined: [], dropped: [] });
      continue;
    }
    const current = currentByHost.get(host) ?? [];
    const covered = input.baselineCovers?.(host);
    if (!covered) {
      const diff = diffItems(current, observed, input.inCoverage);
      changes.push({ host, firstPoll: false, added: diff.added, removed: diff.removed, modified: diff.modified, observed: dedupe(observed), baselined: [], dropped: [] });
      continue;
    }
    // Compared only where both the baseline and this observation looked.
    const diff = diffItems(current, observed, (item) => input.inCoverage(item) && covered(item));
    const known = new Set(current.map(itemId));
    const baselined = dedupe(observed.filter((item) => !covered(item) && !known.has(itemId(item))));
    const isPort = input.isPort ?? (() => true);
    const inRange = input.inRange ?? input.inCoverage;
    const dropped = current.filter((item) => isPort(item) && covered(item) && !inRange(item));
    changes.push({ host, firstPoll: false, added: diff.added, removed: diff.removed, modified: diff.modified, observed: dedupe(observed), baselined, dropped });
  }
  return { changes, staleHosts };
}

function groupByHost(items: readonly Item[]): Map<string, Item[]> {
  const map = new Map<string, Item[]>();
  for (const item of items) {
    const list = map.get(item.host);
    if (list) list.push(item);
    else map.set(item.host, [item]);
  }
  return map;
}

function dedupe(items: Item[]): Item[] {
  return [...new Map(items.map((i) => [itemId(i), i])).values()];
}
