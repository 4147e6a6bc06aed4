import { randomUUID } from 'node:crypto';
import { defineMessage, Envelope, Streams } from '@portolan/contracts';
import { z } from 'zod';
import { AnyMessage, Bus, ConsumerHandle, Outcomes } from '../bus';
import { Slots } from '../slots';

/** Messages used only by the contract suite; routes make each test's traffic its own. */
const Work = defineMessage({
  subject: 'portolan.job.contract.work.v1',
  transport: 'durable',
  routed: true,
  stream: 'PORTOLAN_JOBS_V1',
  schema: z.object({ n: z.number().int() }),
});
const LaxWork = { ...Work, schema: z.object({ n: z.unknown() }) };
const Tick = defineMessage({ subject: 'portolan.progress.contract.v1', transport: 'ephemeral', routed: true, schema: z.object({ n: z.number() }) });
const Echo = defineMessage({
  subject: 'portolan.rpc.contract.echo.v1',
  transport: 'rpc',
  routed: true,
  schema: z.object({ text: z.string() }),
  replySchema: z.object({ echoed: z.string() }),
});

export interface BusHarness {
  create(producer: string): Promise<Bus>;
  /** Removes a durable consumer the suite made (JetStream keeps them on the server). */
  removeConsumer?(message: AnyMessage, durable: string): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

/** One behavioural contract, run against every Bus implementation. */
export function busContract(name: string, harness: BusHarness): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    let route: string;
    let durable: string;
    const handles: ConsumerHandle[] = [];

    beforeAll(async () => {
      bus = await harness.create('contract-suite');
      await bus.start();
    });
    beforeEach(() => {
      route = `r${randomUUID().replace(/-/g, '')}`;
      durable = `contract-${route}`;
    });
    afterEach(async () => {
      for (const handle of handles.splice(0)) await handle.stop();
      await harness.removeConsumer?.(Work, durable);
    });
    afterAll(async () => bus.close());

    it('declares streams that do not capture ephemeral or request subjects', () => {
      const durableFilters = Streams.flatMap((s) => s.subjects);
      expect(durableFilters.some((f) => f.startsWith('portolan.rpc') || f.startsWith('portolan.progress'))).toBe(false);
    });

    it('delivers a published payload in its envelope', async () => {
      const seen: Envelope<{ n: number }>[] = [];
      handles.push(await bus.consume({ message: Work, durable, route }, async (d) => (seen.push(d.envelope), Outcomes.ack())));
      const sent = await bus.publish(Work, { n: 7 }, { route, correlationId: 'corr-1' });
      await until(() => seen.length === 1, 5000);
      expect(seen[0]).toMatchObject({ id: sent.id, correlationId: 'corr-1', producer: 'contract-suite', payload: { n: 7 } });
    });

    it('shares a durable consumer between handles: each message is handled once', async () => {
      const counts = new Map<number, number>();
      const handler = async (d: { envelope: Envelope<{ n: number }> }) => {
        counts.set(d.envelope.payload.n, (counts.get(d.envelope.payload.n) ?? 0) + 1);
        await sleep(2);
        return Outcomes.ack();
      };
      handles.push(await bus.consume({ message: Work, durable, route, concurrency: 4 }, handler));
      handles.push(await bus.consume({ message: Work, durable, route, concurrency: 4 }, handler));
      for (let n = 0; n < 60; n += 1) await bus.publish(Work, { n }, { route });
      await until(() => counts.size === 60, 10000);
      await sleep(300);
      expect([...counts.values()].every((c) => c === 1)).toBe(true);
    });

    it('redelivers after nak, not before the delay', async () => {
      const times: number[] = [];
      handles.push(
        await bus.consume({ message: Work, durable, route }, async (d) => {
          times.push(Date.now());
          return d.deliveryCount === 1 ? Outcomes.nak(400) : Outcomes.ack();
        }),
      );
      await bus.publish(Work, { n: 1 }, { route });
      await until(() => times.length === 2, 5000);
      expect(times[1] - times[0]).toBeGreaterThanOrEqual(350);
    });

    it('retries a handler that throws and never redelivers a terminated message', async () => {
      const attempts = new Map<number, number>();
      handles.push(
        await bus.consume({ message: Work, durable, route }, async (d) => {
          const n = d.envelope.payload.n;
          attempts.set(n, (attempts.get(n) ?? 0) + 1);
          if (n === 1 && d.deliveryCount === 1) throw new Error('transient');
          return n === 2 ? Outcomes.term('poison') : Outcomes.ack();
        }),
      );
      await bus.publish(Work, { n: 1 }, { route });
      await bus.publish(Work, { n: 2 }, { route });
      await until(() => attempts.get(1) === 2, 8000);
      await sleep(500);
      expect(attempts.get(2)).toBe(1);
    });

    it('terminates a message whose payload is invalid without calling the handler', async () => {
      let called = 0;
      handles.push(await bus.consume({ message: Work, durable, route }, async () => (called++, Outcomes.ack())));
      await bus.publish(LaxWork, { n: 'not a number' }, { route });
      await bus.publish(Work, { n: 3 }, { route });
      await until(() => called === 1, 5000);
      await sleep(1500);
      expect(called).toBe(1);
    });

    it('checks a payload before it leaves unless the producer says it is prevalidated; the receiver checks it anyway', async () => {
      let called = 0;
      handles.push(await bus.consume({ message: Work, durable, route }, async () => (called++, Outcomes.ack())));
      const bad = { n: 'not a number' } as unknown as { n: number };
      await expect(bus.publish(Work, bad, { route })).rejects.toThrow(/invalid message on portolan\.job\.contract\.work\.v1: n:/);
      await bus.publish(Work, bad, { route, prevalidated: true });
      await bus.publish(Work, { n: 4 }, { route, prevalidated: true });
      await until(() => called === 1, 5000);
      await sleep(1000);
      expect(called).toBe(1);
    });

    it('redelivers after the ack wait unless the handler calls working()', async () => {
      const deliveries = { quiet: 0, busy: 0 };
      handles.push(
        await bus.consume({ message: Work, durable, route, ackWaitMs: 1000, concurrency: 2 }, async (d) => {
          const busy = d.envelope.payload.n === 1;
          deliveries[busy ? 'busy' : 'quiet'] += 1;
          if (d.deliveryCount > 1) return Outcomes.ack();
          for (let i = 0; i < 8; i += 1) {
            await sleep(250);
            if (busy) d.working();
          }
          return Outcomes.ack();
        }),
      );
      await bus.publish(Work, { n: 1 }, { route });
      await bus.publish(Work, { n: 2 }, { route });
      await until(() => deliveries.quiet >= 2, 6000);
      await sleep(1500);
      expect(deliveries.busy).toBe(1);
    });

    it('stores a re-published message id once', async () => {
      let handled = 0;
      handles.push(await bus.consume({ message: Work, durable, route }, async () => (handled++, Outcomes.ack())));
      const messageId = randomUUID();
      await bus.publish(Work, { n: 1 }, { route, messageId });
      await bus.publish(Work, { n: 1 }, { route, messageId });
      await bus.publish(Work, { n: 2 }, { route });
      await until(() => handled >= 2, 5000);
      await sleep(400);
      expect(handled).toBe(2);
    });

    it('delivers ephemeral messages to subscribers of the route only', async () => {
      const got: number[] = [];
      handles.push(await bus.subscribe(Tick, (e) => got.push(e.payload.n), route));
      await sleep(50);
      bus.emit(Tick, { n: 1 }, { route });
      bus.emit(Tick, { n: 2 }, { route: `${route}x` });
      await until(() => got.length === 1, 3000);
      await sleep(200);
      expect(got).toEqual([1]);
    });

    it('answers requests and fails fast without a responder', async () => {
      handles.push(await bus.serve(Echo, route, async ({ text }) => ({ echoed: text.toUpperCase() })));
      await sleep(50);
      await expect(bus.request(Echo, route, { text: 'hi' }, 2000)).resolves.toEqual({ echoed: 'HI' });
      await expect(bus.request(Echo, `${route}none`, { text: 'hi' }, 500)).rejects.toThrow();
    });

    it('takes a message only with a free slot of those its consumers share, leaving it meanwhile to a process that can start it', async () => {
      const slots = new Slots(1);
      const other = `${durable}-other`;
      let release = () => undefined as void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let holding = false;
      const here: number[] = [];
      const elsewhere: number[] = [];
      try {
        // Two consumers of this process share one slot; a message of the other takes it and holds it.
        handles.push(await bus.consume({ message: Work, durable: other, route: `${route}o`, slots }, async () => ((holding = true), await held, Outcomes.ack())));
        handles.push(await bus.consume({ message: Work, durable, route, slots }, async (d) => (here.push(d.envelope.payload.n), Outcomes.ack())));
        await bus.publish(Work, { n: 0 }, { route: `${route}o` });
        await until(() => holding, 5_000);
        await bus.publish(Work, { n: 1 }, { route });
        await sleep(300);
        expect(here).toEqual([]);
        // Another process of the same consumer, with room: it takes the message at once, not after an ack wait.
        handles.push(await bus.consume({ message: Work, durable, route }, async (d) => (elsewhere.push(d.envelope.payload.n), Outcomes.ack())));
        await until(() => elsewhere.length > 0, 3_000);
        expect(elsewhere).toEqual([1]);
        // The slot given back, this process takes the next one.
        release();
        for (const handle of handles.splice(2)) await handle.stop();
        await bus.publish(Work, { n: 2 }, { route });
        await until(() => here.length > 0, 8_000);
        expect({ here, elsewhere }).toEqual({ here: [2], elsewhere: [1] });
      } finally {
        release();
        for (const handle of handles.splice(0)) await handle.stop();
        await harness.removeConsumer?.(Work, other);
      }
    }, 30_000);

    it('names the durable consumers that take a route, with or without a process attached', async () => {
      expect(await bus.consumersOf(Work, route)).toEqual([]);
      const handle = await bus.consume({ message: Work, durable, route }, async () => Outcomes.ack());
      expect(await bus.consumersOf(Work, route)).toEqual([durable]);
      expect(await bus.consumersOf(Work, `${route}x`)).toEqual([]);
      await handle.stop();
      expect(await bus.consumersOf(Work, route)).toEqual([durable]);
    });

    it('reports health', async () => {
      await expect(bus.health()).resolves.toMatchObject({ ok: true });
    });
  });
}
