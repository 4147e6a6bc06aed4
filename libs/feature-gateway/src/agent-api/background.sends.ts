/**
 * What an ingest sends after a commit and leaves running (result messages, events): tracked so
 * that shutdown waits for it, and bounded so that a stalled bus holds the next batch back
 * instead of piling up batches of messages in memory. The work handles its own failures (what
 * it could not send, the leader's sweeps send later); a rejection here is ignored.
 */
export class BackgroundSends {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly max: number) {}

  /** Resolves once fewer than `max` sends are running. */
  async room(): Promise<void> {
    while (this.running.size >= this.max) await Promise.race(this.running);
  }

  add(work: Promise<unknown>): void {
    const tracked: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.running.add(tracked);
    void tracked.finally(() => this.running.delete(tracked));
  }

  /** Resolves once every send started so far has ended. */
  async idle(): Promise<void> {
    await Promise.all(this.running);
  }
}
