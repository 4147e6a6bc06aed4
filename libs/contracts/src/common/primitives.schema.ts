import { z } from 'zod';

/**
 * The name the workers that serve every site take their consumers by (`scanner-all-sites`,
 * `collector-all-sites`): a site of that name would share them, and the two would keep
 * rewriting each other's filter.
 */
export const ALL_SITES_NAME = 'all-sites';

/** Site names become NATS subject tokens: lower-case letters, digits and dashes only. */
export const SiteNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'site name must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit')
  .refine((name) => name !== ALL_SITES_NAME, `site name "${ALL_SITES_NAME}" is reserved: the workers that serve every site use it`);

export const UuidSchema = z.uuid();
export const IsoDateSchema = z.iso.datetime({ offset: true });

export const ProtocolSchema = z.enum(['tcp', 'udp']);
export const PortRangeSchema = z
  .object({ from: z.number().int().min(1).max(65535), to: z.number().int().min(1).max(65535) })
  .refine((r) => r.from <= r.to, 'port range "from" must not exceed "to"');
export const PortSetSchema = z.object({ tcp: z.array(PortRangeSchema), udp: z.array(PortRangeSchema) });

/** A scan's pace: at most this many probes a second (the nmap library's MAX_SCAN_RATE bounds it). */
export const ScanRateSchema = z.number().positive().max(1_000_000);

export const PortStateSchema = z.enum(['open', 'closed', 'filtered', 'unfiltered', 'open|filtered', 'closed|filtered']);

export const PortObservationSchema = z.object({
  protocol: ProtocolSchema,
  port: z.number().int().min(1).max(65535),
  state: PortStateSchema,
  reason: z.string().max(64).optional(),
  service: z.string().max(128).optional(),
  product: z.string().max(256).optional(),
  version: z.string().max(256).optional(),
  process: z.string().max(256).optional(),
  /** Self-scans only: the local address a socket is bound to (`0.0.0.0`, `::`, `127.0.0.1`). */
  bindAddress: z.string().min(1).max(64).optional(),
  /** Self-scans only: the owning process id where visible. Informational, never compared. */
  pid: z.number().int().min(0).max(2 ** 31).optional(),
});

/** Names of item types other than ports: lower-case words joined by dashes (`config-line`). */
export const ItemTypeSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'an item type is a lower-case name such as config-line');

/**
 * An observed item of another type than a port (a configuration line, a firewall rule, a
 * registry value), with its stable key and attributes; the comparer treats it as it treats ports.
 */
export const ItemObservationSchema = z.object({
  type: ItemTypeSchema.refine((t) => t !== 'port', 'ports are observed as ports'),
  key: z.string().min(1).max(2048),
  attributes: z.record(z.string().max(64), z.union([z.string().max(8192), z.number(), z.boolean(), z.null()])),
});

export const HostObservationSchema = z.object({
  address: z.string().min(1).max(255),
  hostnames: z.array(z.string().max(255)).max(32),
  state: z.enum(['up', 'down', 'unknown']),
  reason: z.string().max(64).optional(),
  ports: z.array(PortObservationSchema).max(131070),
  /** Items of other types read from the host (collectors). */
  items: z.array(ItemObservationSchema).max(200_000).optional(),
});

export const ErrorInfoSchema = z.object({ code: z.string().max(64), message: z.string().max(2000) });

export type Protocol = z.infer<typeof ProtocolSchema>;
export type PortRange = z.infer<typeof PortRangeSchema>;
export type PortSet = z.infer<typeof PortSetSchema>;
export type PortObservation = z.infer<typeof PortObservationSchema>;
export type HostObservation = z.infer<typeof HostObservationSchema>;
export type ItemObservation = z.infer<typeof ItemObservationSchema>;
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;
