/** Publishes in flight at once at most; enough to keep a JetStream connection busy. */
const DEFAULT_WINDOW = 512;

/**
 * Runs `task` for every item with at most `window` in flight, and reports each outcome in item
 * order, as `Promise.allSettled` does. Used to publish many messages without waiting for each
 * acknowledgement in turn, and without holding a hundred thousand of them in flight at once.
 */
export async function settleInWindows<T, R>(items: readonly T[], task: (item: T) => Promise<R>, window = DEFAULT_WINDOW): Promise<PromiseSettledResult<R>[]> {
  const outcomes: PromiseSettledResult<R>[] = [];
  for (let i = 0; i < items.length; i += window) {
    outcomes.push(...(await Promise.allSettled(items.slice(i, i + window).map(task))));
  }
  return outcomes;
}
