/**
 * Slots shared by the consumers of one process (`ConsumerOptions.slots`): a consumer takes a
 * message only once it holds a free slot, and gives the slot back when the message is settled.
 * So a process never holds a message it cannot start while another process could take it: a
 * scanner worker consumes the chunks of two versions of a request, one nmap at a time.
 */
export class Slots {
  private free: number;
  private readonly waiting: { readonly taken: (took: boolean) => void }[] = [];
  private readonly freed = new Set<() => void>();

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`Slots: the size is a whole number of at least 1, not ${size}`);
    this.free = size;
  }

  /** Slots free now. */
  get available(): number {
    return this.free;
  }

  /** Takes a slot if one is free now. */
  tryTake(): boolean {
    if (this.free < 1) return false;
    this.free -= 1;
    return true;
  }

  /** Takes a slot, waiting in turn for one; false if `signal` aborts the wait first. */
  take(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.tryTake()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        taken: (took: boolean) => {
          signal?.removeEventListener('abort', abort);
          resolve(took);
        },
      };
      const abort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        waiter.taken(false);
      };
      signal?.addEventListener('abort', abort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Gives a slot back: to the first waiting `take`, else free (and those listening are told). */
  give(): void {
    const next = this.waiting.shift();
    if (next) return next.taken(true);
    if (this.free >= this.size) throw new Error('Slots: a slot was given back that was not taken');
    this.free += 1;
    for (const listener of this.freed) listener();
  }

  /** Calls `listener` whenever a slot becomes free; returns what stops it. */
  onFree(listener: () => void): () => void {
    this.freed.add(listener);
    return () => this.freed.delete(listener);
  }
}
