import { Envelope, MessageDefinition, PayloadOf, ReplyOf } from '@portolan/contracts';
import type { Slots } from './slots';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyMessage = MessageDefinition<string, any, any>;

/** What a durable handler decided. Handlers return it explicitly; the bus applies it. */
export type Outcome = { readonly kind: 'ack' } | { readonly kind: 'nak'; readonly delayMs: number } | { readonly kind: 'term'; readonly reason: string };

export const Outcomes = {
  ack: (): Outcome => ({ kind: 'ack' }),
  nak: (delayMs: number): Outcome => ({ kind: 'nak', delayMs }),
  term: (reason: string): Outcome => ({ kind: 'term', reason }),
};

export interface Delivery<P> {
  readonly subject: string;
  readonly envelope: Envelope<P>;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** Extends the ack deadline; long jobs call it while they work. */
  working(): void;
}

export interface ConsumerOptions<M extends AnyMessage> {
  readonly message: M;
  /** Durable consumer name; every process using the same name shares the work. */
  readonly durable: string;
  /** Only this routing token (e.g. one site); all routes when omitted. */
  readonly route?: string;
  /** Messages handled at the same time by this process. */
  readonly concurrency?: number;
  /** Time a delivery may run without `working()` before it is delivered again. */
  readonly ackWaitMs?: number;
  /** Deliveries before a message is given up on. */
  readonly maxDeliver?: number;
  /**
   * Where a durable consumer that does not exist yet starts: `all` (the default) replays the
   * stream's history, `new` takes only messages published from then on (a new alerting
   * deployment must not alert on last month's events). An existing consumer keeps its place.
   */
  readonly startAt?: 'all' | 'new';
  /**
   * Slots this consumer shares with others of the process: it takes a message only once it holds
   * a free one, so none waits in this process while another could start it. For long work (a
   * scan); each message is then pulled on its own, so not for a high-rate stream.
   */
  readonly slots?: Slots;
}

export interface ConsumerHandle {
  stop(): Promise<void>;
}

export interface PublishOptions {
  readonly route?: string;
  readonly correlationId?: string;
  /** Reuse to make a retried publish idempotent: the same id is stored once. */
  readonly messageId?: string;
  /**
   * The payload was built by this process from data it had already validated, and its type was
   * checked at compile time: skip the check before it leaves (hot paths). Receivers validate
   * every payload whatever this says.
   */
  readonly prevalidated?: boolean;
  /**
   * The payload as JSON, when the caller has already serialized this very payload (to store
   * it): sent as it is instead of being serialized again. Buses that pass objects ignore it.
   */
  readonly payloadJson?: string;
}

export interface BusLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface BusHealth {
  readonly ok: boolean;
  readonly kind: 'nats' | 'in-process';
  readonly detail: string;
}

/**
 * The one messaging interface of Portolan. Durable messages go through JetStream (or its
 * in-process twin), ephemeral ones through core NATS, and request/reply through core NATS in
 * a namespace no stream captures. Payloads are validated on receipt: an invalid message is
 * terminated and logged, never retried forever.
 */
export interface Bus {
  readonly kind: 'nats' | 'in-process';
  /** Creates streams idempotently; call once before use. */
  start(): Promise<void>;
  publish<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options?: PublishOptions): Promise<Envelope<PayloadOf<M>>>;
  consume<M extends AnyMessage>(options: ConsumerOptions<M>, handler: (delivery: Delivery<PayloadOf<M>>) => Promise<Outcome>): Promise<ConsumerHandle>;
  emit<M extends AnyMessage>(message: M, payload: PayloadOf<M>, options?: PublishOptions): void;
  subscribe<M extends AnyMessage>(message: M, handler: (envelope: Envelope<PayloadOf<M>>, subject: string) => void, route?: string): Promise<ConsumerHandle>;
  serve<M extends AnyMessage>(message: M, route: string, handler: (payload: PayloadOf<M>) => Promise<ReplyOf<M>>): Promise<ConsumerHandle>;
  request<M extends AnyMessage>(message: M, route: string, payload: PayloadOf<M>, timeoutMs: number): Promise<ReplyOf<M>>;
  /**
   * The durable consumers that take a message published on this route (those whose filter
   * matches its subject). Each stands for the processes that share it, running or not: none
   * means that no process consuming the message there has ever started (a site whose workers
   * are all of a version from before the message).
   */
  consumersOf<M extends AnyMessage>(message: M, route?: string): Promise<string[]>;
  health(): Promise<BusHealth>;
  close(): Promise<void>;
}

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_DELIVER = 5;
/** Delay before a handler that threw is retried, growing with each delivery. */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.max(0, deliveryCount - 1));
}
