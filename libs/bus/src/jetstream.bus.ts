import { AckPolicy, Consumer, DeliverPolicy, jetstream, JetStreamClient, jetstreamManager, JetStreamManager, JsMsg, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { NatsConnection, nanos } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { Envelope, filterFor, PayloadOf, ReplyOf, Streams, streamOf, subjectFor } from '@portolan/contracts';
import { AnyMessage, Bus, BusHealth, BusLogger, ConsumerHandle, ConsumerOptions, DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_DELIVER, Delivery, Outcome, PublishOptions, retryDelayMs } from './bus';
import { encode, InvalidMessageError, open, seal, subjectMatches } from './codec';
import { JetStreamPublisher } from './jetstream.publisher';
import type { Slots } from './slots';

/** How long a pull for one message (`ConsumerOptions.slots`) waits on the server; a stop waits as long at most. */
const PULL_EXPIRES_MS = 5_000;
/** The pause after a pull that failed (the server away, the consumer gone). */
const PULL_RETRY_MS = 1_000;

export interface JetStreamBusOptions {
  readonly servers: string;
  readonly name: string;
  readonly logger: BusLogger;
  /** Window within which a re-published message id is discarded by the server. */
  readonly duplicateWindowMs?: number;
}

/**
 * The bus over NATS: JetStream for durable work (streams and durable pull consumers created
 * idempotently), core NATS for progress and request/reply.
 */
export class JetStreamBus implements Bus {
  readonly kind = 'nats' as const;
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly publisher: JetStreamPublisher,
    private readonly options: JetStreamBusOptions,
  ) {}

  static async connect(options: JetStreamBusOptions): Promise<JetStreamBus> {
    // noAsyncTraces: nats.js otherwise builds an Error (with its stack) for every request and
    // publish ack up front, in case it fails: about 6% of the gateway's CPU at ingest. Bus
    // errors are logged by message and subject, not by their stack.
    const nc = await connect({ servers: options.servers.split(','), name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 1000, noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    return new JetStreamBus(nc, jetstream(nc), jsm, new JetStreamPublisher(nc), options);
  }

  async start(): Promise<void> {
    const duplicateWindow = nanos(this.options.duplicateWindowMs ?? 2 * 60_000);
    for (const stream of Streams) {
      const config = {
        name: stream.name,
        subjects: [...stream.subjects],
        retention: stream.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(stream.maxAgeSeconds * 1000),
        duplicate_window: duplicateWindow,
      };
      try {
        await this.jsm.streams.info(stream.name);
        await this.jsm.streams.update(stream.name, { subjects: config.subjects, max_age: config.max_age, duplicate_window: config.duplicate_window });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        try {
          await this.jsm.streams.add(config);
        } catch (addError) {
          // Another process created it between our info and add.
          if (!/already in use/i.test(String(addError))) throw addError;
        }
      }
    }
  }

  async publish<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options: PublishOptions = {}): Promise<Envelope<PayloadOf<M>>> {
    const envelope = seal(message, payload, this.options.name, options.correlationId, options.messageId, options.prevalidated);
    await this.publisher.publish(subjectFor(message, options.route), encode(envelope, options.payloadJson), envelope.id);
    return envelope;
  }

  async consume<M extends AnyMessage>(options: ConsumerOptions<M>, handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>): Promise<ConsumerHandle> {
    const stream = streamOf(options.message).name;
    const config = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: options.startAt === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
      filter_subject: filterFor(options.message, options.route),
      ack_wait: nanos(options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
      max_deliver: options.maxDeliver ?? DEFAULT_MAX_DELIVER,
    };
    try {
      await this.jsm.consumers.info(stream, options.durable);
      await this.jsm.consumers.update(stream, options.durable, { ack_wait: config.ack_wait, max_deliver: config.max_deliver, filter_subject: config.filter_subject });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.jsm.consumers.add(stream, config);
      } catch (addError) {
        if (!/already (in use|exists)/i.test(String(addError))) throw addError;
      }
    }
    const consumer = await this.js.consumers.get(stream, options.durable);
    if (options.slots) return this.consumeBySlot(options.message, consumer, options.slots, handler);
    const concurrency = Math.max(1, options.concurrency ?? 1);
    const messages = await consumer.consume({ max_messages: concurrency });
    const inFlight = new Set<Promise<void>>();
    const loop = (async () => {
      for await (const msg of messages) {
        const task = this.handle(options.message, msg, handler).finally(() => inFlight.delete(task));
        inFlight.add(task);
        if (inFlight.size >= concurrency) await Promise.race(inFlight);
      }
    })();
    return {
      stop: async () => {
        messages.stop();
        await loop.catch(() => undefined);
        await Promise.allSettled([...inFlight]);
      },
    };
  }

  async consumersOf<M extends AnyMessage>(message: M, route?: string): Promise<string[]> {
    const subject = subjectFor(message, route);
    const names: string[] = [];
    // A consumer without a filter takes the whole stream.
    for await (const consumer of this.jsm.consumers.list(streamOf(message).name)) if (subjectMatches(consumer.config.filter_subject || '>', subject)) names.push(consumer.name);
    return names;
  }

  emit<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options: PublishOptions = {}): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(subjectFor(message, options.route), encode(seal(message, payload, this.options.name, options.correlationId)));
  }

  async subscribe<M extends AnyMessage>(message: M, handler: (envelope: Envelope<PayloadOf<M>>, subject: string) => void, route?: string): Promise<ConsumerHandle> {
    const sub = this.nc.subscribe(filterFor(message, route), {
      callback: (error, msg) => {
        if (error) return;
        try {
          handler(open(message, msg.subject, msg.data), msg.subject);
        } catch (handlerError) {
          this.options.logger.warn({ subject: msg.subject, err: String(handlerError) }, 'dropped an invalid or failing ephemeral message');
        }
      },
    });
    return { stop: async () => sub.unsubscribe() };
  }

  async serve<M extends AnyMessage>(message: M, route: string, handler: (payload: PayloadOf<M>) => Promise<ReplyOf<M>>): Promise<ConsumerHandle> {
    const subject = subjectFor(message, route);
    const sub = this.nc.subscribe(subject, {
      queue: 'portolan-rpc',
      callback: (error, msg) => {
        if (error) return;
        void (async () => {
          try {
            msg.respond(Buffer.from(JSON.stringify(await handler(open(message, subject, msg.data).payload))));
          } catch (handlerError) {
            this.options.logger.warn({ subject, err: String(handlerError) }, 'request handler failed');
          }
        })();
      },
    });
    return { stop: async () => sub.unsubscribe() };
  }

  async request<M extends AnyMessage>(message: M, route: string, payload: PayloadOf<M>, timeoutMs: number): Promise<ReplyOf<M>> {
    const envelope = seal(message, payload, this.options.name);
    const reply = await this.nc.request(subjectFor(message, route), encode(envelope), { timeout: timeoutMs });
    const parsed: unknown = reply.json();
    return message.replySchema ? message.replySchema.parse(parsed) : (parsed as ReplyOf<M>);
  }

  async health(): Promise<BusHealth> {
    if (this.nc.isClosed()) return { ok: false, kind: this.kind, detail: 'connection closed' };
    try {
      const rtt = await this.nc.rtt();
      return { ok: true, kind: this.kind, detail: `connected to ${this.nc.getServer()}, rtt ${rtt} ms` };
    } catch (error) {
      return { ok: false, kind: this.kind, detail: String(error) };
    }
  }

  async close(): Promise<void> {
    await this.publisher.close();
    if (!this.nc.isClosed()) await this.nc.drain();
  }

  /**
   * Pulls one message at a time, each once a slot is free (`ConsumerOptions.slots`), and gives
   * the slot back when it is settled: a message waits on the server, where any process with a
   * free slot may take it, never in this one. (`consume` would fetch ahead into a buffer, where
   * a message waits for this process's handlers while the ack wait runs.)
   */
  private consumeBySlot<M extends AnyMessage>(message: M, consumer: Consumer, slots: Slots, handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>): ConsumerHandle {
    const stopping = new AbortController();
    const inFlight = new Set<Promise<void>>();
    const loop = (async () => {
      while (await slots.take(stopping.signal)) {
        let msg: JsMsg | null = null;
        try {
          msg = await consumer.next({ expires: PULL_EXPIRES_MS });
        } catch (error) {
          this.options.logger.warn({ subject: message.subject, err: String(error) }, 'could not pull a message; will try again');
          await new Promise((resolve) => setTimeout(resolve, PULL_RETRY_MS));
        }
        if (msg && stopping.signal.aborted) msg.nak(); // stopped while it came: straight back for another process
        if (!msg || stopping.signal.aborted) {
          slots.give();
          continue;
        }
        const task = this.handle(message, msg, handler).finally(() => {
          inFlight.delete(task);
          slots.give();
        });
        inFlight.add(task);
      }
    })();
    return {
      stop: async () => {
        stopping.abort();
        await loop;
        await Promise.allSettled([...inFlight]);
      },
    };
  }

  private async handle<M extends AnyMessage>(message: M, msg: JsMsg, handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>): Promise<void> {
    const deliveryCount = msg.info.deliveryCount;
    let outcome: Outcome;
    try {
      const envelope = open(message, msg.subject, msg.data);
      outcome = await handler({ subject: msg.subject, envelope, deliveryCount, working: () => msg.working() });
    } catch (error) {
      if (error instanceof InvalidMessageError) {
        this.options.logger.error({ subject: msg.subject, err: error.message }, 'terminated an invalid message');
        outcome = { kind: 'term', reason: error.message.slice(0, 200) };
      } else {
        this.options.logger.warn({ subject: msg.subject, err: String(error), delivery: deliveryCount }, 'handler failed; will retry');
        outcome = { kind: 'nak', delayMs: retryDelayMs(deliveryCount) };
      }
    }
    if (outcome.kind === 'ack') msg.ack();
    else if (outcome.kind === 'nak') msg.nak(outcome.delayMs);
    else {
      this.options.logger.warn({ subject: msg.subject, reason: outcome.reason }, 'message terminated');
      msg.term(outcome.reason);
    }
  }
}

function isNotFound(error: unknown): boolean {
  return /not found/i.test(String(error));
}
