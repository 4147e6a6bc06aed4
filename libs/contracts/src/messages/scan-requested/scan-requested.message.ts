import { z } from 'zod';
import { IsoDateSchema, PortSetSchema, ScanRateSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/** One chunk of a scan for the scanner workers of a site (routing token: the site name). */
export const ScanRequestedSchema = z.object({
  jobId: UuidSchema,
  chunkId: UuidSchema,
  chunkIndex: z.number().int().min(0),
  chunkCount: z.number().int().min(1),
  trackerId: UuidSchema,
  deviceId: UuidSchema,
  site: z.string().min(1).max(63),
  /** nmap-ready target tokens: addresses and `a.b.c.x-y` ranges, already inside the scope guard. */
  targets: z.array(z.string().min(1).max(64)).min(1).max(4096),
  ipv6: z.boolean(),
  /** Host names by address, for display. */
  hostNames: z.record(z.string(), z.string()),
  hostCount: z.number().int().min(1),
  ports: PortSetSchema,
  tcpTechnique: z.enum(['auto', 'connect', 'syn']),
  skipHostDiscovery: z.boolean(),
  /** At most this many probes a second (nmap --max-rate), for this chunk's scan; absent: nmap's own pace. */
  maxRate: ScanRateSchema.optional(),
  timeoutMs: z.number().int().min(1000),
  deadline: IsoDateSchema,
});
export type ScanRequested = z.infer<typeof ScanRequestedSchema>;

export const ScanRequestedMessage = defineMessage({
  subject: 'portolan.job.scan.requested.v1',
  transport: 'durable',
  routed: true,
  stream: 'PORTOLAN_JOBS_V1',
  schema: ScanRequestedSchema,
});

/**
 * Version 2 of the chunk request: the same payload, on a subject that only workers which keep
 * to `maxRate` consume. The hub sends a paced chunk (one with `maxRate`) here alone, so a worker
 * from before the pace, which consumes version 1 only, never takes it and never scans a fragile
 * device at full speed: the chunk waits for a worker that paces, or fails at its deadline saying
 * so. Unpaced chunks stay on version 1, which every worker takes.
 */
export const ScanRequestedV2Message = defineMessage({
  subject: 'portolan.job.scan.requested.v2',
  transport: 'durable',
  routed: true,
  stream: 'PORTOLAN_JOBS_V1',
  schema: ScanRequestedSchema,
});

/** The version of the chunk request a chunk travels as: paced chunks only to the workers that pace. */
export function scanRequestedFor(request: Pick<ScanRequested, 'maxRate'>): typeof ScanRequestedMessage | typeof ScanRequestedV2Message {
  return request.maxRate === undefined ? ScanRequestedMessage : ScanRequestedV2Message;
}
