import { hostname } from 'node:os';
import { z } from 'zod';
import { Env, fields, loadConfig, secret } from './env.loader';

/** Settings every service shares: where the database and the bus are, and logging. */
export const platformShape = {
  databaseUrl: { env: 'DATABASE_URL', schema: secret(fields.url(['postgres', 'postgresql'])) },
  dataDir: { env: 'PORTOLAN_DATA_DIR', schema: fields.text('./data') },
  natsUrl: { env: 'NATS_URL', schema: secret(fields.url(['nats', 'tls'])) },
  logLevel: { env: 'LOG_LEVEL', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') },
  /** The process's name: see `loadPlatformConfig` and `workerName`. */
  instance: { env: 'PORTOLAN_INSTANCE', schema: fields.optionalText() },
  scopeAllow: { env: 'PORTOLAN_SCOPE_ALLOW', schema: fields.text('127.0.0.0/8, ::1/128') },
  scopeExclude: { env: 'PORTOLAN_SCOPE_EXCLUDE', schema: fields.text('') },
  /** Master keys that seal stored credentials, base64, the active one first (or a file of them). */
  masterKeys: { env: 'PORTOLAN_MASTER_KEYS', schema: secret(fields.optionalText()) },
  masterKeyFile: { env: 'PORTOLAN_MASTER_KEY_FILE', schema: fields.optionalText() },
};
export type PlatformConfig = ReturnType<typeof loadPlatformConfig>;

/**
 * The platform settings. `instance` names the process in logs (beside its pid) and to the other
 * services: `PORTOLAN_INSTANCE`, or the host name, the same across restarts (`instanceNamed`
 * says whether it was set).
 */
export const loadPlatformConfig = (env?: Env) => {
  const config = loadConfig(platformShape, env);
  return { ...config, instance: config.instance ?? hostname(), instanceNamed: config.instance !== undefined };
};

/**
 * A scanner worker's or collector's name in `GET /workers` and on the chunks it scans:
 * `PORTOLAN_INSTANCE`, or the host name and the site it serves. It stays the same across
 * restarts, so a worker keeps its row, and a crash and restart is a `worker-restarted`; a host's
 * workers for different sites (the all-in-one hub's, which serves every site, among them) are told
 * apart. Two workers of one kind for one site on one host need a `PORTOLAN_INSTANCE` each (one
 * worker with more slots needs none).
 */
export function workerName(config: Pick<PlatformConfig, 'instance' | 'instanceNamed'>, site: string): string {
  return config.instanceNamed ? config.instance : `${config.instance}/${site}`;
}

export const gatewayShape = {
  host: { env: 'GATEWAY_HOST', schema: fields.text('0.0.0.0') },
  port: { env: 'GATEWAY_PORT', schema: fields.port(8443) },
  plainHttp: { env: 'GATEWAY_PLAIN_HTTP', schema: fields.boolean(false) },
  tlsCertFile: { env: 'GATEWAY_TLS_CERT_FILE', schema: fields.optionalText() },
  tlsKeyFile: { env: 'GATEWAY_TLS_KEY_FILE', schema: fields.optionalText() },
  /** The certificate the gateway will serve next (a rotation): announced to pinning agents ahead of the switch; its key is not needed. */
  tlsNextCertFile: { env: 'GATEWAY_TLS_NEXT_CERT_FILE', schema: fields.optionalText() },
  bodyLimitBytes: { env: 'GATEWAY_BODY_LIMIT_BYTES', schema: fields.positiveInt(256 * 1024) },
  /** An agent's result upload: at most this many bytes as sent (gzip) and once inflated. */
  agentUploadLimitBytes: { env: 'GATEWAY_AGENT_UPLOAD_LIMIT_BYTES', schema: fields.positiveInt(4 * 1024 * 1024) },
  agentUploadInflatedLimitBytes: { env: 'GATEWAY_AGENT_UPLOAD_INFLATED_LIMIT_BYTES', schema: fields.positiveInt(32 * 1024 * 1024) },
  /** Per-agent rate limit: a bucket of `burst` requests refilled at `perSecond`. */
  agentRatePerSecond: { env: 'GATEWAY_AGENT_RATE_PER_SECOND', schema: z.coerce.number().positive().default(5) },
  agentRateBurst: { env: 'GATEWAY_AGENT_RATE_BURST', schema: fields.positiveInt(30) },
  /** Failed operator authentications an address may make: a burst, refilled at `perSecond`; past it, 429s. */
  operatorAuthFailuresPerSecond: { env: 'GATEWAY_OPERATOR_AUTH_FAILURES_PER_SECOND', schema: z.coerce.number().positive().default(1) },
  operatorAuthFailureBurst: { env: 'GATEWAY_OPERATOR_AUTH_FAILURE_BURST', schema: fields.positiveInt(30) },
  /**
   * An admin token of the operator API the hub accepts (registered by its hash on start), e.g. from
   * a secrets manager. Unset and no admin token yet: the hub makes one and writes it to a file.
   */
  adminToken: {
    env: 'PORTOLAN_ADMIN_TOKEN',
    schema: secret(
      z
        .string()
        .regex(/^[\x21-\x7e]{32,256}$/, { message: 'expected 32 to 256 printable characters without spaces' })
        .refine((v) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\./i.test(v), { message: "must not look like an agent's credentials (<uuid>.<secret>)" })
        .optional(),
    ),
  },
};
export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;
export const loadGatewayConfig = (env?: Env) => loadConfig(gatewayShape, env);

export const schedulerShape = {
  tickMs: { env: 'SCHEDULER_TICK_MS', schema: fields.positiveInt(2000) },
  chunkMaxHosts: { env: 'SCHEDULER_CHUNK_MAX_HOSTS', schema: fields.positiveInt(256) },
  /** A chunk no worker has started within this time fails (workers busy, or none at the site). */
  chunkQueueTimeoutMs: { env: 'SCHEDULER_CHUNK_QUEUE_TIMEOUT_MS', schema: fields.positiveInt(6 * 3_600_000) },
  /** Run timeout of a started chunk = base + per-probe allowance; past it, the chunk is failed. */
  chunkTimeoutBaseMs: { env: 'SCHEDULER_CHUNK_TIMEOUT_BASE_MS', schema: fields.positiveInt(10 * 60_000) },
  chunkTimeoutPerProbeMs: { env: 'SCHEDULER_CHUNK_TIMEOUT_PER_PROBE_MS', schema: z.coerce.number().min(0).default(5) },
  defaultSite: { env: 'PORTOLAN_DEFAULT_SITE', schema: fields.text('default') },
  /** An online agent not heard from for this long is offline (a communications event). */
  agentOfflineAfterMs: { env: 'SCHEDULER_AGENT_OFFLINE_AFTER_MS', schema: fields.positiveInt(120_000) },
  /** A scanner worker or collector not heard from for this long is offline (a `worker-offline` communications event); they speak every 15 s, so at least two beats. */
  workerOfflineAfterMs: { env: 'SCHEDULER_WORKER_OFFLINE_AFTER_MS', schema: z.coerce.number().int().min(30_000).default(60_000) },
  /** A run asked of an agent that it has not picked up within this time fails. */
  agentPickupTimeoutMs: { env: 'SCHEDULER_AGENT_PICKUP_TIMEOUT_MS', schema: fields.positiveInt(15 * 60_000) },
  /**
   * A run asked of an agent, picked up and not started within this time of the request fails,
   * even while the agent polls: runs wait behind the agent's other runs (network scans may take
   * hours), one at a time. One picked up by an agent not heard from since for the pickup timeout
   * fails then instead.
   */
  agentStartTimeoutMs: { env: 'SCHEDULER_AGENT_START_TIMEOUT_MS', schema: fields.positiveInt(24 * 3_600_000) },
  /**
   * A run an agent started and has sent no result for fails this long after its start or its last
   * progress report, whatever the agent does: an agent cut off from the hub keeps its results in
   * its spool, so its silence alone is not enough. A run whose process was replaced (the agent
   * restarted mid-run) fails sooner, once the process after it has polled for the pickup timeout
   * (`unfinishedRunReason`).
   */
  agentResultTimeoutMs: { env: 'SCHEDULER_AGENT_RESULT_TIMEOUT_MS', schema: fields.positiveInt(24 * 3_600_000) },
  /**
   * An online agent given a configuration that left a tracker out (its device's host name did not
   * resolve, or its address is outside the scope guard) fetches it again this long after: a
   * tracker left out for a passing reason (a DNS outage) comes back without an edit.
   */
  agentConfigRetryMs: { env: 'SCHEDULER_AGENT_CONFIG_RETRY_MS', schema: fields.positiveInt(5 * 60_000) },
};
export type SchedulerConfig = ReturnType<typeof loadSchedulerConfig>;
export const loadSchedulerConfig = (env?: Env) => loadConfig(schedulerShape, env);

export const scannerShape = {
  site: { env: 'SCANNER_SITE', schema: fields.text('default') },
  engine: { env: 'SCANNER_ENGINE', schema: z.enum(['auto', 'nmap', 'connect']).default('auto') },
  concurrency: { env: 'SCANNER_CONCURRENCY', schema: fields.positiveInt(1) },
  /** How often a busy worker tells JetStream it is still working on a chunk. */
  heartbeatMs: { env: 'SCANNER_HEARTBEAT_MS', schema: fields.positiveInt(5000) },
  /** Results larger than this travel in several messages (NATS allows 1 MiB by default). */
  maxResultBytes: { env: 'SCANNER_MAX_RESULT_BYTES', schema: z.coerce.number().int().min(16_384).default(512 * 1024) },
};
export type ScannerConfig = ReturnType<typeof loadScannerConfig>;
export const loadScannerConfig = (env?: Env) => loadConfig(scannerShape, env);

export const collectorShape = {
  site: { env: 'COLLECTOR_SITE', schema: fields.text('default') },
  /** Devices read at the same time by one collector. */
  concurrency: { env: 'COLLECTOR_CONCURRENCY', schema: fields.positiveInt(16) },
  /** Sessions to one host at the same time (sshd drops connections beyond ~10 by default). */
  perHostConcurrency: { env: 'COLLECTOR_PER_HOST_CONCURRENCY', schema: fields.positiveInt(4) },
  connectTimeoutMs: { env: 'COLLECTOR_CONNECT_TIMEOUT_MS', schema: fields.positiveInt(15_000) },
  commandTimeoutMs: { env: 'COLLECTOR_COMMAND_TIMEOUT_MS', schema: fields.positiveInt(60_000) },
  /** A command whose output is larger than this fails the collection (a runaway device, a wrong command). */
  maxOutputBytes: { env: 'COLLECTOR_MAX_OUTPUT_BYTES', schema: fields.positiveInt(16 * 1024 * 1024) },
  heartbeatMs: { env: 'COLLECTOR_HEARTBEAT_MS', schema: fields.positiveInt(5000) },
};
export type CollectorConfig = ReturnType<typeof loadCollectorConfig>;
export const loadCollectorConfig = (env?: Env) => loadConfig(collectorShape, env);

export const alertingShape = {
  /** The hub's address as analysts reach it: every alert links to its event there (`/api/events/:id`). */
  consoleUrl: { env: 'ALERTING_CONSOLE_URL', schema: z.url().default('https://localhost:8443') },
  /** Deliveries sent at the same time by one alerting process. */
  concurrency: { env: 'ALERTING_CONCURRENCY', schema: fields.positiveInt(64) },
  /** Attempts of a delivery before it is dead (kept, retried from the API). */
  maxAttempts: { env: 'ALERTING_MAX_ATTEMPTS', schema: fields.positiveInt(10) },
  /** How often the delivery loop looks for due deliveries (it is also woken by new ones). */
  pollMs: { env: 'ALERTING_POLL_MS', schema: fields.positiveInt(500) },
};
export type AlertingConfig = ReturnType<typeof loadAlertingConfig>;
export const loadAlertingConfig = (env?: Env) => loadConfig(alertingShape, env);
