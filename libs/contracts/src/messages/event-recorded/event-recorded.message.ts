import { z } from 'zod';
import { IsoDateSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

export const EventKindSchema = z.enum(['added', 'removed', 'modified', 'baseline', 'communications', 'flapping-started', 'flapping-stopped']);
export type EventKind = z.infer<typeof EventKindSchema>;

/** A change or communications event after it was committed; alerting consumes these. */
export const EventRecordedSchema = z.object({
  eventId: UuidSchema,
  kind: EventKindSchema,
  /** Null for events of the hub itself (an alert channel degraded). */
  deviceId: UuidSchema.nullable(),
  trackerId: UuidSchema.nullable(),
  jobId: UuidSchema.nullable(),
  host: z.string().nullable(),
  itemType: z.string().nullable(),
  itemKey: z.string().nullable(),
  before: z.record(z.string(), z.unknown()).nullable(),
  after: z.record(z.string(), z.unknown()).nullable(),
  planned: z.boolean(),
  /** The planned change that made the event planned (absent from producers before it existed). */
  plannedChangeId: UuidSchema.nullable().optional(),
  /** Communications events: what happened (`what`: scan-failed, agent-offline, alert-channel-degraded, …) and why. */
  details: z.record(z.string(), z.unknown()).nullable().optional(),
  occurredAt: IsoDateSchema,
});
export type EventRecorded = z.infer<typeof EventRecordedSchema>;

export const EventRecordedMessage = defineMessage({
  subject: 'portolan.event.change.recorded.v1',
  transport: 'durable',
  routed: false,
  stream: 'PORTOLAN_EVENTS_V1',
  schema: EventRecordedSchema,
});
