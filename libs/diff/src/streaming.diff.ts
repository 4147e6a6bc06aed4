import { changedAttributes } from './diff';
import type { Modification } from './diff';
import { itemId } from './item';
import type { Item } from './item';
import { ByteArena } from './byte-arena';
import { ItemCodec } from './item.codec';

export interface StreamingDiffHandlers {
  onAdded?(item: Item): void;
  /** Called from finish(): only then is it known that no later observation brings the item. */
  onRemoved?(item: Item): void;
  onModified?(modification: Modification): void;
}

export interface StreamingDiffCounts {
  readonly added: number;
  readonly removed: number;
  readonly modified: number;
  readonly unchanged: number;
}

/** Arena slot meaning "no items". */
const NONE = -1;

interface HostEntry {
  /** Slot of the host's covered baseline items not matched by an observation yet. */
  unmatched: number;
  /** Slot of the covered items observed for the host so far (NONE before the first). */
  observed: number;
}

/**
 * diffItems for observation sets too large to hold as Item objects: the baseline is streamed in
 * first and kept as one compact byte string per host (ItemCodec) in a ByteArena, off the heap;
 * then the observation is streamed and compared host by host as it arrives. A host whose items
 * are unchanged (the common case) costs one pass over its bytes.
 *
 * Reports what diffItems would report, through handlers: the same items added, removed and
 * modified, and the same counts. Added and modified items come as each call is compared, host
 * by host (in the observation's order when items come one host per call, as readers give
 * them); removed items come from finish(), in the baseline's order of hosts, as copies.
 *
 *   const diff = new StreamingItemDiff({ onAdded, onRemoved, onModified }, covers);
 *   for (const host of baselineHosts) diff.addBaseline(portItemsFromHosts([host]));
 *   for (const host of observedHosts) diff.addObserved(portItemsFromHosts([host]));
 *   const counts = diff.finish();
 */
export class StreamingItemDiff {
  private readonly codec = new ItemCodec();
  private readonly arena = new ByteArena();
  private readonly hosts = new Map<string, HostEntry>();
  private phase: 'baseline' | 'observed' | 'finished' = 'baseline';
  private added = 0;
  private modified = 0;
  private unchanged = 0;

  constructor(
    private readonly handlers: StreamingDiffHandlers = {},
    private readonly covers: (item: Item) => boolean = () => true,
  ) {}

  /** Baseline items, of any hosts; a host's items may come over several calls. */
  addBaseline(items: readonly Item[]): void {
    if (this.phase !== 'baseline') throw new Error('StreamingItemDiff: baseline items after observed ones');
    for (const [host, group] of byHost(items, this.covers)) {
      const entry = this.hosts.get(host);
      if (entry === undefined) {
        this.hosts.set(host, { unmatched: this.store(firstOfEach(group)), observed: NONE });
      } else {
        const known = this.load(host, entry.unmatched);
        const fresh = firstOfEach(group, new Set(known.map(itemId)));
        if (fresh.length > 0) entry.unmatched = this.store([...known, ...fresh]);
      }
    }
  }

  /** Observed items, of any hosts; compared with the baseline as they arrive. */
  addObserved(items: readonly Item[]): void {
    if (this.phase === 'finished') throw new Error('StreamingItemDiff: observed items after finish()');
    this.phase = 'observed';
    for (const [host, group] of byHost(items, this.covers)) this.observe(host, group);
  }

  /** Reports the baseline items no observation matched as removed, and returns the counts. */
  finish(): StreamingDiffCounts {
    if (this.phase === 'finished') throw new Error('StreamingItemDiff: finish() called twice');
    this.phase = 'finished';
    let removed = 0;
    for (const [host, entry] of this.hosts) {
      for (const item of this.load(host, entry.unmatched)) {
        removed += 1;
        this.handlers.onRemoved?.(item);
      }
    }
    this.hosts.clear();
    this.arena.clear();
    return { added: this.added, removed, modified: this.modified, unchanged: this.unchanged };
  }

  private observe(host: string, group: readonly Item[]): void {
    let entry = this.hosts.get(host);
    if (entry === undefined) {
      entry = { unmatched: NONE, observed: NONE };
      this.hosts.set(host, entry);
    }
    // The common case: the host is exactly as it was (the baseline holds no duplicate, so
    // neither does the group if the encodings match): nothing to report or leave unmatched.
    if (entry.observed === NONE && entry.unmatched !== NONE && this.codec.matches(this.arena.get(entry.unmatched), group)) {
      this.unchanged += group.length;
      entry.observed = entry.unmatched;
      entry.unmatched = NONE;
      return;
    }
    const earlier = this.load(host, entry.observed);
    const items = firstOfEach(group, new Set(earlier.map(itemId)));
    const before = new Map(this.load(host, entry.unmatched).map((item) => [itemId(item), item]));
    for (const item of items) {
      const id = itemId(item);
      const previous = before.get(id);
      if (previous === undefined) {
        this.added += 1;
        this.handlers.onAdded?.(item);
        continue;
      }
      before.delete(id);
      const changed = changedAttributes(item.type, previous.attributes, item.attributes);
      if (changed.length === 0) {
        this.unchanged += 1;
      } else {
        this.modified += 1;
        this.handlers.onModified?.({ before: previous, after: item, changed });
      }
    }
    entry.unmatched = this.store([...before.values()]);
    entry.observed = this.store([...earlier, ...items]);
  }

  private store(items: readonly Item[]): number {
    return items.length === 0 ? NONE : this.arena.add(this.codec.encode(items));
  }

  private load(host: string, slot: number): Item[] {
    return slot === NONE ? [] : this.codec.decode(host, this.arena.get(slot));
  }
}

/** Covered items grouped by host, in order of first appearance. */
function byHost(items: readonly Item[], covers: (item: Item) => boolean): Iterable<[string, readonly Item[]]> {
  const host = items.length > 0 ? items[0].host : '';
  if (items.every((item) => item.host === host && covers(item))) return items.length > 0 ? [[host, items]] : [];
  const groups = new Map<string, Item[]>();
  for (const item of items) {
    if (!covers(item)) continue;
    const group = groups.get(item.host);
    if (group === undefined) groups.set(item.host, [item]);
    else group.push(item);
  }
  return groups;
}

/** The first item of each identity not already in `seen` (which it extends). */
function firstOfEach(items: readonly Item[], seen?: Set<string>): readonly Item[] {
  if (seen === undefined && distinctKeys(items)) return items;
  const ids = seen ?? new Set<string>();
  const unique: Item[] = [];
  for (const item of items) {
    const id = itemId(item);
    if (ids.has(id)) continue;
    ids.add(id);
    unique.push(item);
  }
  return unique;
}

/** Whether items of one host all differ in identity, told by key alone when they share a type. */
function distinctKeys(items: readonly Item[]): boolean {
  const keys = new Set<string>();
  const type = items.length > 0 ? items[0].type : '';
  for (const item of items) {
    if (item.type !== type) return false;
    keys.add(item.key);
  }
  return keys.size === items.length;
}
