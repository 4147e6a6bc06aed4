import { z } from 'zod';
import { ErrorInfoSchema, IsoDateSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/** A chunk that could not be scanned. It never moves a baseline. */
export const ScanFailedSchema = z.object({
  jobId: UuidSchema,
  chunkId: UuidSchema,
  trackerId: UuidSchema,
  deviceId: UuidSchema,
  worker: z.string().min(1).max(128),
  startedAt: IsoDateSchema.optional(),
  failedAt: IsoDateSchema,
  error: ErrorInfoSchema,
});
export type ScanFailed = z.infer<typeof ScanFailedSchema>;

export const ScanFailedMessage = defineMessage({
  subject: 'portolan.result.scan.failed.v1',
  transport: 'durable',
  routed: false,
  stream: 'PORTOLAN_RESULTS_V1',
  schema: ScanFailedSchema,
});
