import { z } from 'zod';
import { HostObservationSchema, IsoDateSchema, ItemTypeSchema, PortSetSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/**
 * The complete observation set of one chunk. `coverage` is what was looked at: the ports, the
 * other item types read in full (`itemTypes`: a collector that read a device's whole
 * configuration covers `config-line`), and through `hosts` (with their state) the hosts. Only
 * hosts that were `up` are comparable.
 * A result too large for one message travels in `part.count` messages of one `scanId`, each
 * complete for the hosts it carries; the chunk is done when every part has arrived.
 */
/** What produced the observations: a scanner, a self-scan tool, or an agentless collector. */
export const ScanEngineSchema = z.enum(['nmap', 'connect', 'ss', 'netstat', 'ssh', 'telnet', 'smb']);

export const ScanCompletedSchema = z.object({
  jobId: UuidSchema,
  chunkId: UuidSchema,
  trackerId: UuidSchema,
  deviceId: UuidSchema,
  worker: z.string().min(1).max(128),
  engine: ScanEngineSchema,
  engineVersion: z.string().max(128),
  args: z.array(z.string().max(4096)).max(512),
  startedAt: IsoDateSchema,
  finishedAt: IsoDateSchema,
  durationMs: z.number().int().min(0),
  coverage: z.object({ ports: PortSetSchema, itemTypes: z.array(ItemTypeSchema).max(32).optional() }),
  hosts: z.array(HostObservationSchema).max(65536),
  scanId: UuidSchema.optional(),
  part: z
    .object({ index: z.number().int().min(0), count: z.number().int().min(1).max(10_000) })
    .refine((p) => p.index < p.count, 'part.index must be below part.count')
    .optional(),
});
export type ScanCompleted = z.infer<typeof ScanCompletedSchema>;

export const ScanCompletedMessage = defineMessage({
  subject: 'portolan.result.scan.completed.v1',
  transport: 'durable',
  routed: false,
  stream: 'PORTOLAN_RESULTS_V1',
  schema: ScanCompletedSchema,
});
