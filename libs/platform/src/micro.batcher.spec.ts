import { BatcherOverloadedError, MicroBatcher } from './micro.batcher';

/** A process function whose batches finish only when the test says so. */
function controlled() {
  const batches: { items: number[]; finish: (answers?: (number | Error)[]) => void; fail: (error: Error) => void }[] = [];
  const process = (items: readonly number[]) =>
    new Promise<(number | Error)[]>((resolve, reject) => {
      batches.push({ items: [...items], finish: (answers) => resolve(answers ?? items.map((n) => n * 10)), fail: reject });
    });
  return { batches, process };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('MicroBatcher', () => {
  it('starts at once when idle, and gathers what arrives meanwhile into the next batch', async () => {
    const { batches, process } = controlled();
    const batcher = new MicroBatcher(process, { maxBatch: 100, concurrency: 1, maxQueued: 1000 });
    const first = batcher.submit(1);
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1]]);
    const later = [2, 3, 4].map((n) => batcher.submit(n));
    await turn();
    expect(batches).toHaveLength(1); // one batch at a time
    expect(batcher.queued).toBe(3);
    batches[0].finish();
    expect(await first).toBe(10);
    await turn();
    expect(batches.map((b) => b.items)).toEqual([[1], [2, 3, 4]]);
    batches[1].finish();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    await batcher.idle();
  });

  it('puts items submitted in one turn into one batch, never more than maxBatch', async () => {
    const { batches, process } = controlled();
    const batcher = new MicroBatcher(process, { maxBatch: 4, concurrency: 2, maxQueued: 1000 });
    const answers = Array.from({ length: 10 }, (_, i) => batcher.submit(i));
    await turn();
    expect(batches.map((b) => b.items)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    batches[1].finish();
    await turn();
    expect(batches.map((b) => b.items.length)).toEqual([4, 4, 2]);
    batches[0].finish();
    batches[2].finish();
    expect(await Promise.all(answers)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
  });

  it('fails only the item whose answer is an error', async () => {
    const { batches, process } = controlled();
    const batcher = new MicroBatcher(process, { maxBatch: 10, concurrency: 1, maxQueued: 10 });
    const answers = [1, 2, 3].map((n) => batcher.submit(n).catch((e: Error) => e.message));
    await turn();
    batches[0].finish([10, new Error('bad item 2'), 30]);
    expect(await Promise.all(answers)).toEqual([10, 'bad item 2', 30]);
  });

  it('fails every item of a batch whose processing threw, and goes on with the next batch', async () => {
    const { batches, process } = controlled();
    const batcher = new MicroBatcher(process, { maxBatch: 2, concurrency: 1, maxQueued: 10 });
    const answers = [1, 2, 3].map((n) => batcher.submit(n).catch((e: Error) => e.message));
    await turn();
    batches[0].fail(new Error('database down'));
    await turn();
    await turn();
    batches[1].finish();
    expect(await Promise.all(answers)).toEqual(['database down', 'database down', 30]);
  });

  it('refuses items beyond maxQueued at once instead of queueing without bound', async () => {
    const { batches, process } = controlled();
    const batcher = new MicroBatcher(process, { maxBatch: 1, concurrency: 1, maxQueued: 2 });
    const running = batcher.submit(1);
    await turn();
    const waiting = [batcher.submit(2), batcher.submit(3)];
    await expect(batcher.submit(4)).rejects.toBeInstanceOf(BatcherOverloadedError);
    batches[0].finish();
    await running;
    for (let i = 1; i <= 2; i++) {
      await turn();
      batches[i].finish();
    }
    expect(await Promise.all(waiting)).toEqual([20, 30]);
  });

  it('rejects answers that do not match the batch', async () => {
    const batcher = new MicroBatcher<number, number>(async () => [1], { maxBatch: 5, concurrency: 1, maxQueued: 5 });
    await expect(Promise.all([batcher.submit(1), batcher.submit(2)])).rejects.toThrow('1 answers for a batch of 2');
  });

  describe('gatherMs', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
    afterEach(() => jest.useRealTimers());

    it('after a batch of several, holds the next back for gatherMs and gathers what arrives meanwhile', async () => {
      const { batches, process } = controlled();
      const batcher = new MicroBatcher(process, { maxBatch: 100, concurrency: 1, maxQueued: 1000, gatherMs: 5 });
      const first = [1, 2].map((n) => batcher.submit(n));
      await turn();
      const second = [batcher.submit(3)];
      batches[0].finish();
      expect(await Promise.all(first)).toEqual([10, 20]);
      await turn();
      expect(batches).toHaveLength(1); // held back, 3 waits
      second.push(batcher.submit(4), batcher.submit(5));
      await turn();
      expect(batches).toHaveLength(1); // a submit while gathering does not start a batch either
      jest.advanceTimersByTime(4);
      await turn();
      expect(batches).toHaveLength(1);
      jest.advanceTimersByTime(1);
      await turn();
      expect(batches.map((b) => b.items)).toEqual([[1, 2], [3, 4, 5]]);
      batches[1].finish();
      expect(await Promise.all(second)).toEqual([30, 40, 50]);
      await batcher.idle();
    });

    it('never holds back after a batch of one (a quiet system), nor when a whole batch is waiting', async () => {
      const { batches, process } = controlled();
      const batcher = new MicroBatcher(process, { maxBatch: 3, concurrency: 1, maxQueued: 1000, gatherMs: 5 });
      const one = batcher.submit(1);
      await turn();
      const next = batcher.submit(2);
      batches[0].finish();
      await one;
      await turn();
      expect(batches.map((b) => b.items)).toEqual([[1], [2]]); // at once, no timer run
      const full = [3, 4, 5, 6].map((n) => batcher.submit(n));
      batches[1].finish();
      await next;
      await turn();
      expect(batches.map((b) => b.items)).toEqual([[1], [2], [3, 4, 5]]); // a full batch waited: at once
      batches[2].finish();
      await Promise.all(full.slice(0, 3));
      await turn();
      expect(batches).toHaveLength(3); // 6 alone after a batch of three: held back
      jest.advanceTimersByTime(5);
      await turn();
      expect(batches.map((b) => b.items)).toEqual([[1], [2], [3, 4, 5], [6]]);
      batches[3].finish();
      expect(await Promise.all(full)).toEqual([30, 40, 50, 60]);
      await batcher.idle();
    });
  });
});
