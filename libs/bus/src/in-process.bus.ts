import { Envelope, filterFor, PayloadOf, ReplyOf, StreamDefinition, Streams, streamOf, subjectFor } from '@portolan/contracts';
import { AnyMessage, Bus, BusHealth, BusLogger, ConsumerHandle, ConsumerOptions, DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVER, Delivery, Outcome, PublishOptions, retryDelayMs } from './bus';
import { encode, InvalidMessageError, open, seal, subjectMatches } from './codec';
import type { Slots } from './slots';

interface Stored {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly at: number;
}

/** Memory bounds of the in-process streams (the hub runs for months). */
const MAX_STREAM_MESSAGES = 10_000;
const DUPLICATE_WINDOW_MS = 2 * 60_000;

interface Pending {
  readonly stored: Stored;
  deliveries: number;
  /** Identifies the live delivery; a stale one's lease timer is ignored. */
  lease: number;
  timer?: NodeJS.Timeout;
  inFlight: boolean;
}

interface Worker {
  readonly concurrency: number;
  /** Shared with other consumers of the process: a message is handed over only with one of them. */
  readonly slots?: Slots;
  active: number;
  readonly run: (pending: Pending, lease: number) => void;
}

class StreamLog {
  readonly messages: Stored[] = [];
  /** Message ids seen within the duplicate window, oldest first. */
  readonly ids = new Map<string, number>();
  seq = 0;
  constructor(readonly definition: StreamDefinition) {}

  rememberId(id: string, now: number): boolean {
    for (const [old, at] of this.ids) {
      if (now - at < DUPLICATE_WINDOW_MS) break;
      this.ids.delete(old);
    }
    if (this.ids.has(id)) return false;
    this.ids.set(id, now);
    return true;
  }
}

class DurableState {
  cursor = 0;
  readonly ready: Pending[] = [];
  readonly pending = new Map<number, Pending>();
  readonly workers: Worker[] = [];
  constructor(
    readonly stream: StreamLog,
    readonly filter: string,
    readonly ackWaitMs: number,
    readonly maxDeliver: number,
  ) {}
}

/**
 * The in-process twin of the JetStream bus, for the all-in-one hub and unit tests: same
 * contract (durable consumers shared by name, explicit ack, nak with delay, term, working,
 * ack-wait redelivery, duplicate suppression by message id, work-queue removal on ack), no
 * persistence across restarts.
 */
export class InProcessBus implements Bus {
  readonly kind = 'in-process' as const;
  private readonly streams = new Map<string, StreamLog>();
  private readonly durables = new Map<string, DurableState>();
  private readonly listeners = new Set<{ filter: string; deliver: (subject: string, data: Uint8Array) => void }>();
  private readonly servers = new Map<string, (data: Uint8Array) => Promise<Uint8Array>>();
  private closed = false;

  constructor(
    private readonly producer: string,
    private readonly logger: BusLogger,
  ) {}

  async start(): Promise<void> {
    for (const definition of Streams) if (!this.streams.has(definition.name)) this.streams.set(definition.name, new StreamLog(definition));
  }

  async publish<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options: PublishOptions = {}): Promise<Envelope<PayloadOf<M>>> {
    this.assertOpen();
    const envelope = seal(message, payload, this.producer, options.correlationId, options.messageId, options.prevalidated);
    const subject = subjectFor(message, options.route);
    const log = this.streamLog(streamOf(message).name);
    const now = Date.now();
    if (!log.rememberId(envelope.id, now)) return envelope;
    log.seq += 1;
    log.messages.push({ seq: log.seq, subject, data: encode(envelope), at: now });
    this.trim(log, now);
    for (const durable of this.durables.values()) if (durable.stream === log) this.pump(durable);
    return envelope;
  }

  async consume<M extends AnyMessage>(options: ConsumerOptions<M>, handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>): Promise<ConsumerHandle> {
    this.assertOpen();
    const stream = this.streamLog(streamOf(options.message).name);
    const filter = filterFor(options.message, options.route);
    let durable = this.durables.get(options.durable);
    if (!durable) {
      durable = new DurableState(stream, filter, options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS, options.maxDeliver ?? DEFAULT_MAX_DELIVER);
      this.durables.set(options.durable, durable);
    }
    const state = durable;
    const worker: Worker = {
      concurrency: Math.max(1, options.concurrency ?? 1),
      slots: options.slots,
      active: 0,
      run: (pending, lease) => {
        worker.active += 1;
        void this.deliver(options.message, state, pending, lease, handler).finally(() => {
          worker.active -= 1;
          worker.slots?.give(); // which pumps the consumers that share them
          this.pump(state);
        });
      },
    };
    state.workers.push(worker);
    // A slot freed by another consumer of the process may be this one's turn.
    const unlisten = options.slots?.onFree(() => this.pump(state));
    this.pump(state);
    return {
      stop: async () => {
        unlisten?.();
        const index = state.workers.indexOf(worker);
        if (index >= 0) state.workers.splice(index, 1);
        await waitUntil(() => worker.active === 0);
      },
    };
  }

  async consumersOf<M extends AnyMessage>(message: M, route?: string): Promise<string[]> {
    const stream = this.streamLog(streamOf(message).name);
    const subject = subjectFor(message, route);
    return [...this.durables].filter(([, durable]) => durable.stream === stream && subjectMatches(durable.filter, subject)).map(([name]) => name);
  }

  emit<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options: PublishOptions = {}): void {
    if (this.closed) return;
    const envelope = seal(message, payload, this.producer, options.correlationId);
    const subject = subjectFor(message, options.route);
    const data = encode(envelope);
    for (const listener of this.listeners) if (subjectMatches(listener.filter, subject)) listener.deliver(subject, data);
  }

  async subscribe<M extends AnyMessage>(message: M, handler: (envelope: Envelope<PayloadOf<M>>, subject: string) => void, route?: string): Promise<ConsumerHandle> {
    const listener = {
      filter: filterFor(message, route),
      deliver: (subject: string, data: Uint8Array) =>
        queueMicrotask(() => {
          try {
            handler(open(message, subject, data), subject);
          } catch (error) {
            this.logger.warn({ subject, err: String(error) }, 'dropped an invalid or failing ephemeral message');
          }
        }),
    };
    this.listeners.add(listener);
    return { stop: async () => void this.listeners.delete(listener) };
  }

  async serve<M extends AnyMessage>(message: M, route: string, handler: (payload: PayloadOf<M>) => Promise<ReplyOf<M>>): Promise<ConsumerHandle> {
    const subject = subjectFor(message, route);
    this.servers.set(subject, async (data) => {
      const envelope = open(message, subject, data);
      return Buffer.from(JSON.stringify(await handler(envelope.payload)));
    });
    return { stop: async () => void this.servers.delete(subject) };
  }

  async request<M extends AnyMessage>(message: M, route: string, payload: PayloadOf<M>, timeoutMs: number): Promise<ReplyOf<M>> {
    const subject = subjectFor(message, route);
    const server = this.servers.get(subject);
    if (!server) throw new Error(`no responder for ${subject}`);
    const envelope = seal(message, payload, this.producer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`request on ${subject} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const reply = await Promise.race([server(encode(envelope)), timeout]);
      const parsed: unknown = JSON.parse(Buffer.from(reply).toString('utf8'));
      return message.replySchema ? message.replySchema.parse(parsed) : (parsed as ReplyOf<M>);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Messages a stream holds now (for tests and diagnostics). */
  storedMessages(stream: string): number {
    return this.streamLog(stream).messages.length;
  }

  async health(): Promise<BusHealth> {
    return { ok: !this.closed, kind: this.kind, detail: this.closed ? 'closed' : 'in-process bus' };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const durable of this.durables.values()) {
      durable.workers.length = 0;
      for (const pending of durable.pending.values()) clearTimeout(pending.timer);
    }
    this.listeners.clear();
    this.servers.clear();
  }

  private streamLog(name: string): StreamLog {
    const log = this.streams.get(name);
    if (!log) throw new Error(`bus not started: stream ${name} does not exist`);
    return log;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('bus is closed');
  }

  /** Hands ready messages (new ones first from the cursor) to workers with free capacity. */
  private pump(state: DurableState): void {
    if (this.closed) return;
    for (;;) {
      const worker = state.workers.find((w) => w.active < w.concurrency && (!w.slots || w.slots.available > 0));
      if (!worker) return;
      const next = state.ready.shift() ?? this.nextNew(state);
      if (!next) return;
      worker.slots?.tryTake();
      next.deliveries += 1;
      next.lease += 1;
      next.inFlight = true;
      this.arm(state, next);
      worker.run(next, next.lease);
    }
  }

  private nextNew(state: DurableState): Pending | undefined {
    const messages = state.stream.messages;
    while (state.cursor < messages.length) {
      const stored = messages[state.cursor];
      state.cursor += 1;
      if (!subjectMatches(state.filter, stored.subject)) continue;
      const pending: Pending = { stored, deliveries: 0, lease: 0, inFlight: false };
      state.pending.set(stored.seq, pending);
      return pending;
    }
    return undefined;
  }

  /** Ack-wait: a delivery that neither finishes nor calls working() in time is delivered again. */
  private arm(state: DurableState, pending: Pending): void {
    clearTimeout(pending.timer);
    const lease = pending.lease;
    pending.timer = setTimeout(() => {
      if (pending.lease !== lease || !state.pending.has(pending.stored.seq)) return;
      pending.inFlight = false;
      this.redeliver(state, pending, 0);
    }, state.ackWaitMs);
    pending.timer.unref();
  }

  private redeliver(state: DurableState, pending: Pending, delayMs: number): void {
    if (pending.deliveries >= state.maxDeliver) {
      this.logger.error({ subject: pending.stored.subject, deliveries: pending.deliveries }, 'message exceeded its deliveries and was dropped');
      this.settle(state, pending);
      return;
    }
    pending.lease += 1;
    const requeue = () => {
      if (!state.pending.has(pending.stored.seq)) return;
      state.ready.push(pending);
      this.pump(state);
    };
    if (delayMs > 0) setTimeout(requeue, delayMs).unref();
    else requeue();
  }

  private settle(state: DurableState, pending: Pending): void {
    clearTimeout(pending.timer);
    state.pending.delete(pending.stored.seq);
    if (state.stream.definition.retention === 'workqueue') {
      const index = state.stream.messages.indexOf(pending.stored);
      if (index >= 0) this.remove(state.stream, index);
    }
    this.trim(state.stream, Date.now());
  }

  /**
   * Drops from the head of a stream what no one needs: messages every consumer of the stream has
   * settled, and beyond those whatever is over the stream's age or the count bound (as JetStream
   * limits would). A message still being delivered keeps its own reference and is unaffected.
   */
  private trim(log: StreamLog, now: number): void {
    const durables = [...this.durables.values()].filter((d) => d.stream === log);
    const maxAgeMs = log.definition.maxAgeSeconds * 1000;
    while (log.messages.length > 0) {
      const head = log.messages[0];
      const settledByAll = durables.length > 0 && durables.every((d) => d.cursor > 0 && !d.pending.has(head.seq));
      const overLimit = log.messages.length > MAX_STREAM_MESSAGES || now - head.at > maxAgeMs;
      if (!settledByAll && !overLimit) return;
      this.remove(log, 0);
    }
  }

  private remove(log: StreamLog, index: number): void {
    log.messages.splice(index, 1);
    for (const durable of this.durables.values()) if (durable.stream === log && durable.cursor > index) durable.cursor -= 1;
  }

  private async deliver<M extends AnyMessage>(
    message: M,
    state: DurableState,
    pending: Pending,
    lease: number,
    handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>,
  ): Promise<void> {
    let outcome: Outcome;
    try {
      const envelope = open(message, pending.stored.subject, pending.stored.data);
      outcome = await handler({
        subject: pending.stored.subject,
        envelope,
        deliveryCount: pending.deliveries,
        working: () => {
          if (pending.lease === lease) this.arm(state, pending);
        },
      });
    } catch (error) {
      if (error instanceof InvalidMessageError) {
        this.logger.error({ subject: pending.stored.subject, err: error.message }, 'terminated an invalid message');
        outcome = { kind: 'term', reason: error.message };
      } else {
        this.logger.warn({ subject: pending.stored.subject, err: String(error), delivery: pending.deliveries }, 'handler failed; will retry');
        outcome = { kind: 'nak', delayMs: retryDelayMs(pending.deliveries) };
      }
    }
    if (!state.pending.has(pending.stored.seq)) return;
    if (outcome.kind === 'nak' && pending.lease !== lease) return; // already redelivered after ack-wait
    pending.inFlight = false;
    if (outcome.kind === 'nak') {
      clearTimeout(pending.timer);
      this.redeliver(state, pending, outcome.delayMs);
    } else {
      if (outcome.kind === 'term') this.logger.warn({ subject: pending.stored.subject, reason: outcome.reason }, 'message terminated');
      this.settle(state, pending);
    }
  }
}

async function waitUntil(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
