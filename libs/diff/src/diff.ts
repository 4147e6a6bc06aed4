import { Attributes, comparedAttributes, Item, itemId } from './item';

export interface Modification {
  readonly before: Item;
  readonly after: Item;
  /** Names of the compared attributes that differ. */
  readonly changed: readonly string[];
}

export interface DiffResult {
  readonly added: Item[];
  readonly removed: Item[];
  readonly modified: Modification[];
  readonly unchanged: number;
}

/**
 * Compares a baseline with a complete observation set for the same coverage.
 *
 * `covers` says whether an item lies inside what the observation looked at (a host that was up,
 * a port inside the scanned ranges). A baseline item outside the coverage is neither removed nor
 * compared: a port that was not scanned is not a closed port. Observed items outside the
 * coverage are ignored too, so a scanner that reports more than it was asked cannot add items.
 */
export function diffItems(
  baseline: readonly Item[],
  observed: readonly Item[],
  covers: (item: Item) => boolean = () => true,
): DiffResult {
  const before = new Map<string, Item>();
  for (const item of baseline) {
    const id = itemId(item);
    if (covers(item) && !before.has(id)) before.set(id, item);
  }

  const added: Item[] = [];
  const modified: Modification[] = [];
  let unchanged = 0;
  const seen = new Set<string>();
  for (const item of observed) {
    if (!covers(item)) continue;
    const id = itemId(item);
    if (seen.has(id)) continue;
    seen.add(id);
    const previous = before.get(id);
    if (!previous) {
      added.push(item);
      continue;
    }
    const changed = changedAttributes(item.type, previous.attributes, item.attributes);
    if (changed.length > 0) modified.push({ before: previous, after: item, changed });
    else unchanged += 1;
  }

  const removed: Item[] = [];
  for (const [id, item] of before) if (!seen.has(id)) removed.push(item);
  return { added, removed, modified, unchanged };
}

/** Names of the compared attributes of `type` whose values differ between a and b. */
export function changedAttributes(type: string, a: Attributes, b: Attributes): string[] {
  const names = comparedAttributes(type) ?? [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return names.filter((name) => (a[name] ?? null) !== (b[name] ?? null));
}
