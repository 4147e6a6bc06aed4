import { RateLimiter } from './rate.limiter';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with the wait until the next token', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(2, 3, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(500);
    now += 500;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('b')).toBe(0);
  });

  it('tells the wait without taking a token', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(2, 2, () => now);
    expect(limiter.wait('a')).toBe(0);
    limiter.take('a');
    expect(limiter.wait('a')).toBe(0);
    limiter.take('a');
    expect([limiter.wait('a'), limiter.wait('a')]).toEqual([500, 500]);
    now += 500;
    expect(limiter.wait('a')).toBe(0);
    expect(limiter.take('a')).toBe(0);
  });

  it('forgets idle buckets so memory follows the active agents', () => {
    let now = 0;
    const limiter = new RateLimiter(1, 2, () => now);
    for (let i = 0; i < 100; i += 1) limiter.take(`agent-${i}`);
    now += 60_000;
    limiter.take('fresh');
    expect(limiter.size).toBe(1);
  });
});
