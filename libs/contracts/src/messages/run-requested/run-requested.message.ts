import { z } from 'zod';
import { IsoDateSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/** A tracker run was asked for (run-now or a due schedule); the scheduler plans its chunks. */
export const RunRequestedSchema = z.object({
  jobId: UuidSchema,
  trackerId: UuidSchema,
  /** `reprobe`: asked for by the comparer (the job names its narrower target). */
  trigger: z.enum(['manual', 'schedule', 'agent-startup', 'reprobe']),
  requestedAt: IsoDateSchema,
});
export type RunRequested = z.infer<typeof RunRequestedSchema>;

export const RunRequestedMessage = defineMessage({
  subject: 'portolan.job.run.requested.v1',
  transport: 'durable',
  routed: false,
  stream: 'PORTOLAN_JOBS_V1',
  schema: RunRequestedSchema,
});
