import { z } from 'zod';
import { IsoDateSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/** Live progress of one chunk (core NATS, may be lost; the result is what counts). */
export const ScanProgressSchema = z.object({
  jobId: UuidSchema,
  chunkId: UuidSchema,
  worker: z.string().min(1).max(128),
  engine: z.string().max(32),
  percent: z.number().min(0).max(100),
  hostsDone: z.number().int().min(0),
  startedAt: IsoDateSchema,
  at: IsoDateSchema,
});
export type ScanProgress = z.infer<typeof ScanProgressSchema>;

export const ScanProgressMessage = defineMessage({
  subject: 'portolan.progress.scan.v1',
  transport: 'ephemeral',
  routed: true,
  schema: ScanProgressSchema,
});
