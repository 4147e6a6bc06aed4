import { KeyedLimiter } from './keyed.limiter';

describe('KeyedLimiter', () => {
  it('runs at most the limit per key at once, others in order, keys independent', async () => {
    const limiter = new KeyedLimiter(2);
    const peak = new Map<string, number>();
    const order: string[] = [];
    const task = (key: string, name: string) =>
      limiter.run(key, async () => {
        peak.set(key, Math.max(peak.get(key) ?? 0, limiter.active(key)));
        await new Promise((r) => setTimeout(r, 5));
        order.push(name);
      });
    await Promise.all([task('a', 'a1'), task('a', 'a2'), task('a', 'a3'), task('a', 'a4'), task('b', 'b1'), task('b', 'b2')]);
    expect(peak.get('a')).toBe(2);
    expect(peak.get('b')).toBe(2);
    expect(order.filter((n) => n.startsWith('a')).slice(2).sort()).toEqual(['a3', 'a4']);
    expect(limiter.active('a')).toBe(0);
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new KeyedLimiter(1);
    await expect(limiter.run('h', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run('h', async () => 'next')).toBe('next');
  });
});
