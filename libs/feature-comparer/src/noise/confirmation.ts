import { Attributes, comparedAttributes, Item, itemId } from '@portolan/diff';

export type ChangeKind = 'added' | 'removed' | 'modified';

/** A difference between a host's baseline and one complete observation. */
export interface DetectedChange {
  readonly kind: ChangeKind;
  readonly item: Item;
  readonly before: Item | null;
  readonly after: Item | null;
  /** Modified: the compared attributes that differ. */
  readonly changed?: readonly string[];
}

/** A change seen, not yet in as many consecutive complete scans as the tracker asks. */
export interface PendingChange {
  readonly host: string;
  readonly itemType: string;
  readonly itemKey: string;
  readonly kind: ChangeKind;
  readonly after: Attributes | null;
  readonly seen: number;
  readonly firstSeenAt: Date;
  readonly firstJobId: string;
}

export interface ConfirmationOutcome {
  /** Changes seen often enough: they move the baseline and (unless flapping) are reported. */
  readonly confirmed: (DetectedChange & { firstSeenAt: Date })[];
  /** Pending changes to write (new ones, and ones seen once more). */
  readonly pending: PendingChange[];
  /** Pending changes to forget: confirmed now, or not seen this time (the item went back). */
  readonly dropped: PendingChange[];
}

/**
 * Confirmation: a change is reported only after it is seen in `required` consecutive complete
 * scans. `detected` are this scan's differences; `pending` the changes waiting, of the hosts
 * and items this scan compared (those out of coverage or of hosts down are not passed: a scan
 * that did not look neither confirms nor cancels). A pending change seen again the same way
 * (same kind, same resulting attributes) counts once more; seen otherwise it starts over; not
 * seen at all, it is dropped, never reported. With `required` 1 everything is confirmed at once.
 */
export function confirmChanges(detected: readonly DetectedChange[], pending: readonly PendingChange[], required: number, observedAt: Date, jobId: string): ConfirmationOutcome {
  const waiting = new Map(pending.map((p) => [itemId({ type: p.itemType, host: p.host, key: p.itemKey }), p]));
  const confirmed: (DetectedChange & { firstSeenAt: Date })[] = [];
  const next: PendingChange[] = [];
  const dropped: PendingChange[] = [];
  for (const change of detected) {
    const id = itemId(change.item);
    const before = waiting.get(id);
    waiting.delete(id);
    const after = change.after?.attributes ?? null;
    const continues = before !== undefined && before.kind === change.kind && sameAttributes(change.item.type, before.after, after);
    const seen = continues ? before.seen + 1 : 1;
    const firstSeenAt = continues ? before.firstSeenAt : observedAt;
    if (seen >= required) {
      confirmed.push({ ...change, firstSeenAt });
      if (before) dropped.push(before);
    } else {
      next.push({ host: change.item.host, itemType: change.item.type, itemKey: change.item.key, kind: change.kind, after, seen, firstSeenAt, firstJobId: continues ? before.firstJobId : jobId });
    }
  }
  dropped.push(...waiting.values());
  return { confirmed, pending: next, dropped };
}

/** Equal in what the item type compares (a new pid of the same service is the same state). */
function sameAttributes(type: string, a: Attributes | null, b: Attributes | null): boolean {
  if (a === null || b === null) return a === b;
  const keys = new Set(comparedAttributes(type) ?? [...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) if ((a[key] ?? null) !== (b[key] ?? null)) return false;
  return true;
}
