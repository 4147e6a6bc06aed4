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
}

export interface BaselinePlanInput {
  /** Hosts that were up: the only comparable ones. */
  readonly upHosts: readonly string[];
  readonly baselines: ReadonlyMap<string, HostBaseline>;
  readonly current: readonly Item[];
  readonly observed: readonly Item[];
  /** Whether an item lies in the scanned port coverage. */
  readonly inCoverage: (item: Item) => boolean;
  readonly observedAt: Date;
}

/**
 * Pure: what applying one complete observation does to each host's baseline. A host without a
 * baseline gets its first poll (the baseline itself); a host with one gets its differences. A
 * host whose baseline was moved by a newer observation is left alone (stale result).
 */
export function planBaselineChanges(input: BaselinePlanInput): { changes: HostChange[]; staleHosts: string[] } {
  const currentByHost = groupByHost(input.current);
  const observedByHost = groupByHost(input.observed);
  const changes: HostChange[] = [];
  const staleHosts: string[] = [];
  for (const host of input.upHosts) {
    const baseline = input.baselines.get(host);
    const observed = (observedByHost.get(host) ?? []).filter(input.inCoverage);
    if (baseline && baseline.observedAt.getTime() > input.observedAt.getTime()) {
      staleHosts.push(host);
      continue;
    }
    if (!baseline) {
      changes.push({ host, firstPoll: true, added: [], removed: [], modified: [], observed: dedupe(observed) });
      continue;
    }
    const diff = diffItems(currentByHost.get(host) ?? [], observed, input.inCoverage);
    changes.push({ host, firstPoll: false, added: diff.added, removed: diff.removed, modified: diff.modified, observed: dedupe(observed) });
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
