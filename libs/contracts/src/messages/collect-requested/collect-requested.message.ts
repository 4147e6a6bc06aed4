import { z } from 'zod';
import { IsoDateSchema, PortSetSchema, UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

export const CollectProtocolSchema = z.enum(['ssh', 'telnet', 'smb']);
export type CollectProtocol = z.infer<typeof CollectProtocolSchema>;

/**
 * One agentless collection for the collectors of a site (routing token: the site name): read
 * one device over SSH, Telnet or SMB with its device profile. The message names the credential;
 * the collector fetches and opens it only when it runs the job, so no secret travels on the bus.
 */
export const CollectRequestedSchema = z.object({
  jobId: UuidSchema,
  chunkId: UuidSchema,
  trackerId: UuidSchema,
  deviceId: UuidSchema,
  site: z.string().min(1).max(63),
  protocol: CollectProtocolSchema,
  /** Device profile id (commands and parsers), e.g. `linux`, `cisco-ios`, `windows`. */
  profile: z.string().min(1).max(64),
  /** The address to connect to (inside the scope guard) and the one the items are recorded under. */
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  credentialId: UuidSchema,
  /** Port items (listening sockets, a device's open ports) are kept inside these ports. */
  ports: PortSetSchema,
  timeoutMs: z.number().int().min(1000),
  deadline: IsoDateSchema,
});
export type CollectRequested = z.infer<typeof CollectRequestedSchema>;

export const CollectRequestedMessage = defineMessage({
  subject: 'portolan.job.collect.requested.v1',
  transport: 'durable',
  routed: true,
  stream: 'PORTOLAN_JOBS_V1',
  schema: CollectRequestedSchema,
});
