import { z } from 'zod';
import { IsoDateSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/** What a scanner worker says it does beyond the base chunk request: `scan-pace`, it takes paced chunks (version 2) and keeps to their `maxRate`. */
export const WorkerFeatures = { scanPace: 'scan-pace' } as const;

/**
 * A scanner worker or collector saying it is there (core NATS, every few seconds, and once as it
 * stops): the hub keeps the list (`GET /workers`) and says when one falls silent.
 */
export const WorkerPresenceSchema = z.object({
  /** Its instance name (`PORTOLAN_INSTANCE`; the host name by default). */
  worker: z.string().min(1).max(128),
  kind: z.enum(['scanner', 'collector']),
  /** The site whose chunks it takes; `*`: every site's. */
  site: z.string().min(1).max(63),
  version: z.string().max(64),
  features: z.array(z.string().max(64)).max(32),
  /** Chunks it takes at once, and how many it has now. */
  concurrency: z.number().int().min(1),
  busy: z.number().int().min(0),
  startedAt: IsoDateSchema,
  /** Its last word: it is stopping (a deliberate stop, not a silence). */
  stopping: z.boolean().optional(),
});
export type WorkerPresence = z.infer<typeof WorkerPresenceSchema>;

export const WorkerPresenceMessage = defineMessage({
  subject: 'portolan.presence.worker.v1',
  transport: 'ephemeral',
  routed: false,
  schema: WorkerPresenceSchema,
});
