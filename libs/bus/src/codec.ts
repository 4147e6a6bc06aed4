import { createEnvelope, Envelope, EnvelopeHeaderSchema, MessageDefinition } from '@portolan/contracts';

export class InvalidMessageError extends Error {
  constructor(subject: string, reason: string) {
    super(`invalid message on ${subject}: ${reason}`);
    this.name = 'InvalidMessageError';
  }
}

/**
 * Validates a payload before it leaves, so a producer bug fails at the producer; `prevalidated`
 * payloads (see PublishOptions) go as they are.
 */
export function seal<P>(definition: MessageDefinition<string, P, unknown>, payload: P, producer: string, correlationId?: string, messageId?: string, prevalidated = false): Envelope<P> {
  let data = payload;
  if (!prevalidated) {
    const checked = definition.schema.safeParse(payload);
    if (!checked.success) throw new InvalidMessageError(definition.subject, checked.error.issues.map(describeIssue).join('; '));
    data = checked.data;
  }
  const envelope = createEnvelope(data, producer, correlationId);
  return messageId ? { ...envelope, id: messageId, correlationId: correlationId ?? messageId } : envelope;
}

/** The message body: the envelope as JSON, with `payloadJson` (the payload already serialized) in place of the payload when given. */
export function encode(envelope: Envelope<unknown>, payloadJson?: string): Uint8Array {
  if (payloadJson === undefined) return Buffer.from(JSON.stringify(envelope));
  const head = JSON.stringify({ id: envelope.id, occurredAt: envelope.occurredAt, correlationId: envelope.correlationId, producer: envelope.producer });
  return Buffer.from(`${head.slice(0, -1)},"payload":${payloadJson}}`);
}

/** Parses and validates the envelope and payload of a received message. */
export function open<P>(definition: MessageDefinition<string, P, unknown>, subject: string, data: Uint8Array | string): Envelope<P> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8'));
  } catch {
    throw new InvalidMessageError(subject, 'body is not JSON');
  }
  const header = EnvelopeHeaderSchema.safeParse(raw);
  if (!header.success) throw new InvalidMessageError(subject, `envelope: ${header.error.issues.map(describeIssue).join('; ')}`);
  const payload = definition.schema.safeParse(header.data.payload);
  if (!payload.success) throw new InvalidMessageError(subject, `payload: ${payload.error.issues.map(describeIssue).join('; ')}`);
  return { ...header.data, payload: payload.data };
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
  return issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message;
}

/** NATS subject matching with `*` (one token) and `>` (the rest). */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i += 1) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}
