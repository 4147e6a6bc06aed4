/**
 * Sorted, merged lists of inclusive integer intervals. Shared by IPv4 ranges (uint32) and port
 * ranges (1..65535); every list these functions return is sorted, non-overlapping and has no two
 * adjacent intervals (10-20 and 21-30 become 10-30).
 */
export interface Interval {
  from: number;
  to: number;
}

/** Sort and merge overlapping or adjacent intervals. Does not modify the input. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.from - b.from || a.to - b.to);
  const merged: Interval[] = [];
  for (const { from, to } of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && from <= last.to + 1) {
      last.to = Math.max(last.to, to);
    } else {
      merged.push({ from, to });
    }
  }
  return merged;
}

/** `a` minus `b`; both must already be merged (as returned by mergeIntervals). */
export function subtractIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const result: Interval[] = [];
  let j = 0;
  for (const { from, to } of a) {
    let start = from;
    while (j < b.length && b[j].to < start) j++;
    let k = j;
    while (start <= to && k < b.length && b[k].from <= to) {
      if (b[k].from > start) result.push({ from: start, to: b[k].from - 1 });
      start = Math.max(start, b[k].to + 1);
      k++;
    }
    if (start <= to) result.push({ from: start, to });
  }
  return result;
}

/** Index of the first interval whose `to` is >= value (list.length if none). */
function firstEndingAtOrAfter(list: readonly Interval[], value: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].to < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Insert [from, to] into a merged list in place, keeping it merged. Returns how many values were
 * not covered before, so callers can keep an exact running count of distinct values.
 */
export function insertInterval(list: Interval[], from: number, to: number): number {
  const start = firstEndingAtOrAfter(list, from - 1);
  let end = start;
  let covered = 0;
  let mergedFrom = from;
  let mergedTo = to;
  while (end < list.length && list[end].from <= to + 1) {
    const current = list[end];
    covered += Math.max(0, Math.min(to, current.to) - Math.max(from, current.from) + 1);
    mergedFrom = Math.min(mergedFrom, current.from);
    mergedTo = Math.max(mergedTo, current.to);
    end++;
  }
  list.splice(start, end - start, { from: mergedFrom, to: mergedTo });
  return to - from + 1 - covered;
}

/** The interval of a merged list that contains value, or undefined. Binary search. */
export function findInterval(list: readonly Interval[], value: number): Interval | undefined {
  const candidate = list[firstEndingAtOrAfter(list, value)];
  return candidate !== undefined && candidate.from <= value ? candidate : undefined;
}

/** Number of values covered by a list of disjoint intervals. */
export function intervalsSize(list: readonly Interval[]): number {
  return list.reduce((sum, { from, to }) => sum + (to - from + 1), 0);
}
