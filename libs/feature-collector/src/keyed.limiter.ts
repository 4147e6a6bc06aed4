/**
 * At most `limit` tasks at once per key (a device's address): sshd and small devices drop or
 * refuse sessions beyond a handful in parallel. Tasks over the limit wait their turn, in order.
 */
export class KeyedLimiter {
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {
    if (limit < 1) throw new Error('KeyedLimiter: the limit is at least 1');
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    await this.acquire(key);
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  /** Tasks running for the key now. */
  active(key: string): number {
    return this.running.get(key) ?? 0;
  }

  private acquire(key: string): Promise<void> {
    const count = this.running.get(key) ?? 0;
    if (count < this.limit) {
      this.running.set(key, count + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(key) ?? [];
      queue.push(resolve);
      this.waiting.set(key, queue);
    });
  }

  private release(key: string): void {
    const next = this.waiting.get(key)?.shift();
    if (next) return next(); // the slot passes straight to the next task
    if (this.waiting.get(key)?.length === 0) this.waiting.delete(key);
    const count = (this.running.get(key) ?? 1) - 1;
    if (count <= 0) this.running.delete(key);
    else this.running.set(key, count);
  }
}
