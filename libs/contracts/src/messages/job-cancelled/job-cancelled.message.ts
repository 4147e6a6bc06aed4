import { z } from 'zod';
import { UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/**
 * An operator cancelled a scan job: every scanner worker and collector stops what it is doing of
 * it and passes over its chunks still queued. Ephemeral: a worker that misses it is told again
 * by the scheduler when it reports progress on one of the job's chunks; whatever it sends of the
 * job is passed over by the comparer (its chunks are settled as cancelled already).
 */
export const JobCancelledSchema = z.object({
  jobId: UuidSchema,
  /** Who cancelled it, and why, as the job's error says (for the workers' logs). */
  reason: z.string().min(1).max(1_000),
});
export type JobCancelled = z.infer<typeof JobCancelledSchema>;

export const JobCancelledMessage = defineMessage({
  subject: 'portolan.work.job.cancelled.v1',
  transport: 'ephemeral',
  routed: false,
  schema: JobCancelledSchema,
});
