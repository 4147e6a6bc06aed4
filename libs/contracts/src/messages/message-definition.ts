import { z } from 'zod';

/**
 * Where a message travels:
 * - `durable`: JetStream, explicit acks, replayable; `stream` names the stream that captures it.
 * - `ephemeral`: core NATS fire-and-forget (progress).
 * - `rpc`: core NATS request/reply, in a namespace no stream captures (a stream over a
 *   request subject would answer the request with a publish ack).
 */
export type Transport = 'durable' | 'ephemeral' | 'rpc';
export type StreamName = 'PORTOLAN_JOBS_V1' | 'PORTOLAN_RESULTS_V1' | 'PORTOLAN_EVENTS_V1';

export interface MessageDefinition<S extends string, P, R = never> {
  /** Base subject, `portolan.<domain>.<entity>.<action>.v<N>`. */
  readonly subject: S;
  readonly transport: Transport;
  /** True when a routing token (e.g. the site) is appended to the subject. */
  readonly routed: boolean;
  readonly stream?: StreamName;
  readonly schema: z.ZodType<P>;
  readonly replySchema?: z.ZodType<R>;
}

export function defineMessage<S extends string, P, R = never>(definition: MessageDefinition<S, P, R>): MessageDefinition<S, P, R> {
  return definition;
}

export type PayloadOf<M> = M extends MessageDefinition<string, infer P, unknown> ? P : never;
export type ReplyOf<M> = M extends MessageDefinition<string, unknown, infer R> ? R : never;

/** The concrete subject a message is published on: the base plus the routing token if any. */
export function subjectFor(definition: MessageDefinition<string, unknown, unknown>, route?: string): string {
  if (definition.routed) {
    if (!route) throw new Error(`message ${definition.subject} needs a routing token`);
    if (!/^[A-Za-z0-9_-]+$/.test(route)) throw new Error(`routing token "${route}" is not a valid subject token`);
    return `${definition.subject}.${route}`;
  }
  if (route) throw new Error(`message ${definition.subject} takes no routing token`);
  return definition.subject;
}

/** Subject filter that matches every route of a message (or the one route given). */
export function filterFor(definition: MessageDefinition<string, unknown, unknown>, route?: string): string {
  return definition.routed ? `${definition.subject}.${route ?? '*'}` : definition.subject;
}
