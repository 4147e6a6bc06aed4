import { z } from 'zod';
import { ErrorInfoSchema, HostObservationSchema, IsoDateSchema, PortSetSchema, ScanRateSchema, UuidSchema } from '../common/primitives.schema';

/**
 * The agent API (`/api/agent/...`): the only way an agent and the hub talk. The agent opens
 * every connection (outbound HTTPS); the hub never connects to an agent. Authenticated calls
 * carry `Authorization: Bearer <agentId>.<secret>`.
 */
export const AGENT_API_PREFIX = 'agent';
export const AGENT_AUTH_SCHEME = 'Bearer';
/**
 * The agent's wall clock when it sent the call, in milliseconds since the epoch, on every call:
 * the hub measures the agent's clock against its own and puts the times the agent reports
 * (a run's start and end) on the hub's clock.
 */
export const AGENT_CLOCK_HEADER = 'x-portolan-agent-time';
/**
 * The boot of the agent process making the call (the `boot` of its polls), on its uploads and
 * scan-start reports: while two processes share one identity, the hub takes those of the one that
 * keeps it.
 */
export const AGENT_BOOT_HEADER = 'x-portolan-agent-boot';
/** Long-poll for jobs: the agent waits at most this long for the hub to answer. */
export const AGENT_MAX_WAIT_SECONDS = 30;

/** At most this many hub certificate pins in an agent's configuration. */
export const MAX_HUB_PINS = 32;

/**
 * A certificate's SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` and Node's
 * `fingerprint256` print it: 32 hex pairs separated by ':' (upper-cased here).
 */
export const CertificateFingerprintSchema = z
  .string()
  .trim()
  .toUpperCase()
  .regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'a SHA-256 certificate fingerprint is 32 hex pairs separated by ":"');

/**
 * What an agent program can do beyond what every agent does, as it says at enrolment and on each
 * poll. The hub hands an agent only the work it said it can do: a scan it would run differently
 * from what the operator asked (faster than a tracker's pace, say) is not handed to it at all.
 * Names the hub does not know are kept (a newer agent), and mean nothing to it.
 */
export const AgentFeatures = {
  /** Honours a scan's `maxRate` (`nmap --max-rate`). */
  scanPace: 'scan-pace',
} as const;
export const MAX_AGENT_FEATURES = 32;
const AgentFeatureSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'an agent feature is a lower-case name of letters, digits and "-", at most 32 long');
/** Features as a set: sorted, each once (the same set said in another order is the same). */
const AgentFeatureSetSchema = z
  .array(AgentFeatureSchema)
  .max(MAX_AGENT_FEATURES)
  .transform((names) => [...new Set(names)].sort());
/** A poll's `features`: the names separated by ",". */
const AgentFeatureListSchema = z
  .string()
  .max(MAX_AGENT_FEATURES * 33)
  .transform((list) => (list === '' ? [] : list.split(',')))
  .pipe(AgentFeatureSetSchema);

const HostNameSchema = z.string().trim().min(1, 'hostname must not be empty').max(253);
/** The agent's operating system: Node's platform and kernel release, and the distribution or product name where the agent can read it. */
const AgentOsSchema = z.object({ platform: z.string().min(1).max(32), release: z.string().max(128), description: z.string().max(256).optional() }).strict();

export const EnrolRequestSchema = z
  .object({
    token: z.string().min(16, 'token is too short to be an enrolment token').max(256),
    /** The device name: the host name with the configured prefix and suffix. */
    name: z.string().trim().min(1).max(200),
    hostname: HostNameSchema,
    os: AgentOsSchema,
    version: z.string().min(1).max(64),
    /** Whether the agent may run nmap for remote and network scans. */
    scanner: z.boolean(),
    /** What this agent program can do (`AgentFeatures`); absent from agents older than the list, which can do none of it. */
    features: AgentFeatureSetSchema.optional(),
  })
  .strict();
export type EnrolRequest = z.infer<typeof EnrolRequestSchema>;

export const EnrolResponseSchema = z.object({
  agentId: UuidSchema,
  /** Shown once; the hub keeps only its hash. */
  secret: z.string().min(32),
  deviceId: UuidSchema,
  site: z.string(),
  groups: z.array(z.string()),
});
export type EnrolResponse = z.infer<typeof EnrolResponseSchema>;

/**
 * `POST /api/agent/reenrol`, with the agent's credentials: a process the hub answered `clone`
 * asks for an identity of its own, for the host it runs on (named as at enrolment). The hub pays
 * for it with a use of the enrolment token the shared identity was enrolled with, and answers as
 * enrolment does.
 */
export const ReenrolRequestSchema = EnrolRequestSchema.omit({ token: true }).extend({
  /** The boot of the process asking: the one the hub told to re-enrol. */
  boot: UuidSchema,
});
export type ReenrolRequest = z.infer<typeof ReenrolRequestSchema>;

export const AgentScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('at-agent-startup') }),
  z.object({ kind: z.literal('once'), at: IsoDateSchema.optional() }),
  z.object({ kind: z.literal('interval'), every: z.union([z.string(), z.number()]) }),
  z.object({ kind: z.literal('cron'), cron: z.string().min(1).max(128) }),
]);

/** A tracker the agent runs on its own schedule (and when the hub asks for a run now). */
export const AgentTrackerSchema = z.object({
  id: UuidSchema,
  name: z.string(),
  mode: z.enum(['self', 'remote', 'network']),
  deviceId: UuidSchema,
  ports: PortSetSchema,
  schedule: AgentScheduleSchema,
  /** remote and network scans only: nmap-ready targets, already inside the hub's scope guard. */
  scan: z
    .object({
      targets: z.array(z.string().min(1).max(64)).min(1).max(4096),
      ipv6: z.boolean(),
      hostNames: z.record(z.string(), z.string()),
      hostCount: z.number().int().min(1),
      tcpTechnique: z.enum(['auto', 'connect', 'syn']),
      skipHostDiscovery: z.boolean(),
      /** At most this many probes a second (nmap --max-rate); absent: nmap's own pace. */
      maxRate: ScanRateSchema.optional(),
      timeoutMs: z.number().int().min(1000),
    })
    .optional(),
});
export type AgentTracker = z.infer<typeof AgentTrackerSchema>;

export const AgentConfigSchema = z.object({
  agentId: UuidSchema,
  /** Changes whenever anything below changes; the jobs poll carries the current one. */
  configVersion: z.number().int().min(0),
  site: z.string(),
  scanner: z.boolean(),
  trackers: z.array(AgentTrackerSchema),
  /**
   * The fingerprints of every certificate the hub's gateways serve or have staged to serve next
   * (not retired, registered by a gateway within the last 7 days). An agent that pins the hub trusts these besides its configured
   * pins, so another gateway replica or a certificate rotation does not strand it.
   */
  hubPins: z.array(CertificateFingerprintSchema).max(MAX_HUB_PINS).default([]),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Query of `GET /api/agent/jobs`: the heartbeat rides on the long-poll. */
export const AgentPollQuerySchema = z
  .object({
    wait: z.coerce.number().int().min(0).max(AGENT_MAX_WAIT_SECONDS).default(AGENT_MAX_WAIT_SECONDS),
    /** Changes each time the agent process starts. */
    boot: UuidSchema,
    version: z.string().min(1).max(64),
    spoolEntries: z.coerce.number().int().min(0).max(1_000_000).default(0),
    spoolDropped: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
    /** The configuration version the agent has applied (absent until it has one): the hub shows which agents lag behind theirs. */
    configVersion: z.coerce.number().int().min(0).max(2_147_483_647).optional(),
    /** What this agent program can do (`AgentFeatures`), separated by ","; absent from agents older than the list. */
    features: AgentFeatureListSchema.optional(),
  })
  .strict();
export type AgentPollQuery = z.infer<typeof AgentPollQuerySchema>;

export const AgentJobSchema = z.object({ jobId: UuidSchema, trackerId: UuidSchema, trigger: z.enum(['manual']) });
export type AgentJob = z.infer<typeof AgentJobSchema>;
export const AgentPollResponseSchema = z.object({
  configVersion: z.number().int().min(0),
  jobs: z.array(AgentJobSchema),
  /**
   * This process shares its identity with another one on another host (a cloned machine), and
   * the hub keeps the identity with the other: it is to ask for one of its own
   * (`POST /api/agent/reenrol`). Absent otherwise, and from hubs before it.
   */
  clone: z.literal(true).optional(),
});
export type AgentPollResponse = z.infer<typeof AgentPollResponseSchema>;

/**
 * `POST /api/agent/results` (gzip JSON, `Idempotency-Key` header): one finished or failed run of
 * one tracker. `jobId` is the hub's job for a run asked for by the hub, or a new id the agent
 * made for a run of its own schedule.
 */
export const AgentResultSchema = z
  .object({
    jobId: UuidSchema,
    trackerId: UuidSchema,
    trigger: z.enum(['manual', 'schedule', 'agent-startup']),
    status: z.enum(['completed', 'failed']),
    engine: z.enum(['nmap', 'connect', 'ss', 'netstat']),
    engineVersion: z.string().max(128),
    args: z.array(z.string().max(4096)).max(512),
    startedAt: IsoDateSchema,
    finishedAt: IsoDateSchema,
    coverage: z.object({ ports: PortSetSchema }),
    hosts: z.array(HostObservationSchema).max(4096),
    error: ErrorInfoSchema.optional(),
  })
  .strict()
  .refine((r) => Date.parse(r.finishedAt) >= Date.parse(r.startedAt), { message: 'finishedAt must not be before startedAt', path: ['finishedAt'] })
  .refine((r) => (r.status === 'failed') === (r.error !== undefined), { message: 'a failed result carries an error and only a failed one does', path: ['error'] });
export type AgentResult = z.infer<typeof AgentResultSchema>;

export const AgentResultResponseSchema = z.object({ jobId: UuidSchema, duplicate: z.boolean() });
export type AgentResultResponse = z.infer<typeof AgentResultResponseSchema>;

/** `POST /api/agent/scans`: the agent started a run (for the `scan-started` communications event). */
export const AgentScanStartedSchema = z
  .object({ jobId: UuidSchema, trackerId: UuidSchema, trigger: z.enum(['manual', 'schedule', 'agent-startup']), startedAt: IsoDateSchema })
  .strict();
export type AgentScanStarted = z.infer<typeof AgentScanStartedSchema>;

/**
 * `POST /api/agent/progress`: how far a remote or network scan the agent runs has got, every
 * so often while it runs (advisory: the job view shows it, and a run that reports progress is
 * alive however long it takes). Percent of the whole run, as the scanner workers report theirs.
 */
export const AgentScanProgressSchema = z
  .object({
    jobId: UuidSchema,
    trackerId: UuidSchema,
    percent: z.number().min(0).max(100),
  })
  .strict();
export type AgentScanProgress = z.infer<typeof AgentScanProgressSchema>;
/** `applied`: false once the run has its result or has ended: the report changed nothing. (A run picked up that the hub has not heard start is started by it.) */
export const AgentScanProgressResponseSchema = z.object({ jobId: UuidSchema, applied: z.boolean() });
export type AgentScanProgressResponse = z.infer<typeof AgentScanProgressResponseSchema>;

/**
 * `POST /api/agent/host`: the host an agent process runs on, said once each time it starts (and
 * again when the host is renamed under it), with the boot of its polls. The hub keeps the
 * agent's host name and OS up to date (an upgraded distribution, a renamed host) and tells two
 * processes sharing one identity apart by their hosts.
 */
export const AgentHostReportSchema = z.object({ boot: UuidSchema, hostname: HostNameSchema, os: AgentOsSchema }).strict();
export type AgentHostReport = z.infer<typeof AgentHostReportSchema>;

export const RotateSecretResponseSchema = z.object({ secret: z.string().min(32) });
export type RotateSecretResponse = z.infer<typeof RotateSecretResponseSchema>;
