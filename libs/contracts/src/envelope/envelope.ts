import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { IsoDateSchema, UuidSchema } from '../common/primitives.schema';

/** Every message on the bus travels in this envelope; `id` doubles as the JetStream msg id. */
export interface Envelope<P> {
  readonly id: string;
  readonly occurredAt: string;
  readonly correlationId: string;
  readonly producer: string;
  readonly payload: P;
}

export const EnvelopeHeaderSchema = z.object({
  id: UuidSchema,
  occurredAt: IsoDateSchema,
  correlationId: z.string().min(1).max(128),
  producer: z.string().min(1).max(128),
  payload: z.unknown(),
});

export function createEnvelope<P>(payload: P, producer: string, correlationId?: string): Envelope<P> {
  const id = randomUUID();
  return { id, occurredAt: new Date().toISOString(), correlationId: correlationId ?? id, producer, payload };
}
