import { Slots } from './slots';

describe('Slots', () => {
  it('hands out at most its size, then gives back to waiters in turn before it frees one', async () => {
    const slots = new Slots(2);
    expect([slots.tryTake(), slots.tryTake(), slots.tryTake()]).toEqual([true, true, false]);
    const order: string[] = [];
    const first = slots.take().then((took) => order.push(`first ${took}`));
    const second = slots.take().then((took) => order.push(`second ${took}`));
    const freed: number[] = [];
    slots.onFree(() => freed.push(slots.available));
    slots.give();
    await first;
    expect(order).toEqual(['first true']);
    slots.give();
    await second;
    expect(order).toEqual(['first true', 'second true']);
    expect(freed).toEqual([]); // each slot went straight to a waiter
    slots.give();
    expect(freed).toEqual([1]);
    expect(slots.available).toBe(1);
  });

  it('stops a wait when its signal aborts, and the slot goes to the next waiter', async () => {
    const slots = new Slots(1);
    expect(slots.tryTake()).toBe(true);
    const stop = new AbortController();
    const aborted = slots.take(stop.signal);
    const next = slots.take();
    stop.abort();
    expect(await aborted).toBe(false);
    slots.give();
    expect(await next).toBe(true);
    expect(slots.available).toBe(0);
    expect(await slots.take(stop.signal)).toBe(false);
  });

  it('refuses a size that holds no slot, and a slot given back that was not taken', () => {
    expect(() => new Slots(0)).toThrow('Slots: the size is a whole number of at least 1, not 0');
    expect(() => new Slots(1).give()).toThrow('Slots: a slot was given back that was not taken');
  });
});
