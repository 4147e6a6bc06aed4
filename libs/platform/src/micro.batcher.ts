/**
 * Group commit for request handlers: concurrent callers each `submit` one item, and the items
 * that arrive while a batch is being processed are processed together in the next one. An item
 * that finds the batcher idle starts a batch at once (after the current turn of the event loop,
 * so items submitted in the same turn share it), so a quiet system answers at the latency of one
 * item and a busy one amortises each round trip over many; under load, `gatherMs` lets the next
 * batch wait a moment for more.
 *
 * `process` answers every item of its batch, in order: a value, or an Error for that item alone
 * (one bad item never fails the others). If `process` itself throws, every item of the batch
 * gets that error.
 */
export type BatchAnswer<O> = O | Error;

export interface MicroBatcherOptions {
  /** Most items in one batch. */
  readonly maxBatch: number;
  /** Batches processed at the same time. */
  readonly concurrency: number;
  /** Items waiting beyond the running batches; a submit beyond it is refused at once. */
  readonly maxQueued: number;
  /**
   * Under load, how long to wait after a batch before the next (what is queued then waits too),
   * so that it gathers the requests of the callers the last batch answered: they come back within
   * a round trip, and without the wait a batch of a few starts before they arrive. Applies only
   * after a batch of more than one item and while fewer than `maxBatch` wait: a quiet system
   * (batches of one) is never held. Postgres's `commit_delay` with `commit_siblings` does the
   * same for its WAL flushes. Default 0: the next batch starts at once.
   */
  readonly gatherMs?: number;
}

export class BatcherOverloadedError extends Error {}

interface Pending<I, O> {
  readonly item: I;
  readonly resolve: (value: O) => void;
  readonly reject: (error: Error) => void;
}

export class MicroBatcher<I, O> {
  private readonly queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;
  private gathering = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly process: (items: readonly I[]) => Promise<readonly BatchAnswer<O>[]>,
    private readonly options: MicroBatcherOptions,
  ) {
    if (options.maxBatch < 1 || options.concurrency < 1 || options.maxQueued < 1) throw new Error('MicroBatcher: maxBatch, concurrency and maxQueued must be at least 1');
  }

  /** Items waiting for a batch (not counting the ones being processed). */
  get queued(): number {
    return this.queue.length;
  }

  submit(item: I): Promise<O> {
    if (this.queue.length >= this.options.maxQueued) {
      return Promise.reject(new BatcherOverloadedError(`${this.queue.length} items are already waiting; try again shortly`));
    }
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && !this.queue.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.gathering || this.running >= this.options.concurrency) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startBatches();
    });
  }

  private startBatches(): void {
    while (this.running < this.options.concurrency && this.queue.length) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.running += 1;
      void this.runBatch(batch).finally(() => {
        this.running -= 1;
        if (this.queue.length && this.options.gatherMs && batch.length > 1 && this.queue.length < this.options.maxBatch) this.gather(this.options.gatherMs);
        // Otherwise what arrived meanwhile goes at once: it has waited for a whole batch already.
        else if (this.queue.length) this.startBatches();
        else if (!this.running) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    }
  }

  /** Holds the next batch back for `ms` (see `gatherMs`); submits meanwhile only queue. */
  private gather(ms: number): void {
    this.gathering = true;
    setTimeout(() => {
      this.gathering = false;
      this.startBatches();
    }, ms);
  }

  private async runBatch(batch: Pending<I, O>[]): Promise<void> {
    let answers: readonly BatchAnswer<O>[];
    try {
      answers = await this.process(batch.map((p) => p.item));
      if (answers.length !== batch.length) throw new Error(`MicroBatcher: ${answers.length} answers for a batch of ${batch.length}`);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const pending of batch) pending.reject(failure);
      return;
    }
    batch.forEach((pending, i) => {
      const answer = answers[i];
      if (answer instanceof Error) pending.reject(answer);
      else pending.resolve(answer as O);
    });
  }
}
