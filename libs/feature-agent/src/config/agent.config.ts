import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CertificateFingerprintSchema, DomainError, MAX_HUB_PINS } from '@portolan/contracts';
import { parseHubProxy } from '../hub/hub.proxy';

/**
 * The agent's settings: a JSON file (`--config`, or PORTOLAN_AGENT_CONFIG) with the same
 * fields overridable by environment variables. Trust in the hub is a CA file or pinned SHA-256
 * certificate fingerprints (for a self-signed hub); there is no "don't verify" switch.
 */

export const AgentSettingsSchema = z
  .object({
    /** `https://HUB:PORT/api/`. */
    hubUrl: z
      .string()
      .url()
      .refine((u) => u.startsWith('https://'), 'hubUrl must be an https:// URL (the agent talks to the hub only over HTTPS)'),
    /** Needed only until the agent is enrolled. */
    enrolToken: z.string().min(16).optional(),
    namePrefix: z.string().max(50).default(''),
    nameSuffix: z.string().max(50).default(''),
    caFile: z.string().min(1).optional(),
    /**
     * The hub certificates' SHA-256 fingerprints: one, or several (a list, or one string with
     * commas or spaces between them: every gateway replica's, or the next certificate's ahead of a
     * rotation). The agent also trusts those the hub announces once connected (`hubPins`).
     */
    pinSha256: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((s) => s.trim()).filter((s) => s.length > 0))
      .pipe(z.array(CertificateFingerprintSchema).min(1, 'pinSha256 needs at least one fingerprint').max(MAX_HUB_PINS))
      .optional(),
    /**
     * `http://[user[:password]@]host[:port]`: reach the hub through this HTTP proxy (CONNECT
     * tunnel; the TLS session stays the agent's with the hub). Holds a password when the proxy
     * wants one: keep the file readable by the agent only.
     */
    hubProxy: z.string().min(1).max(2048).optional(),
    stateDir: z.string().min(1).default('./data/agent'),
    /** Ask to run nmap for remote and network scans (the enrolment token must allow it). */
    scanner: z.boolean().default(false),
    pollWaitSeconds: z.number().int().min(0).max(30).default(30),
    /** How often a running remote or network scan tells the hub how far it has got (the hub needs little: it shows it and keeps the run alive). */
    progressSeconds: z.number().int().min(1).max(3600).default(15),
    spoolMaxEntries: z.number().int().min(1).default(10_000),
    spoolMaxBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .refine((s) => !(s.caFile && s.pinSha256), { message: 'set either caFile or pinSha256, not both', path: ['pinSha256'] });
export type AgentSettings = z.infer<typeof AgentSettingsSchema>;

const ENV: Record<string, { field: keyof AgentSettings; kind: 'text' | 'bool' | 'int' }> = {
  PORTOLAN_HUB_URL: { field: 'hubUrl', kind: 'text' },
  PORTOLAN_ENROL_TOKEN: { field: 'enrolToken', kind: 'text' },
  PORTOLAN_AGENT_NAME_PREFIX: { field: 'namePrefix', kind: 'text' },
  PORTOLAN_AGENT_NAME_SUFFIX: { field: 'nameSuffix', kind: 'text' },
  PORTOLAN_HUB_CA_FILE: { field: 'caFile', kind: 'text' },
  PORTOLAN_HUB_PIN_SHA256: { field: 'pinSha256', kind: 'text' },
  PORTOLAN_HUB_PROXY: { field: 'hubProxy', kind: 'text' },
  PORTOLAN_AGENT_STATE_DIR: { field: 'stateDir', kind: 'text' },
  PORTOLAN_AGENT_SCANNER: { field: 'scanner', kind: 'bool' },
  PORTOLAN_AGENT_POLL_WAIT_SECONDS: { field: 'pollWaitSeconds', kind: 'int' },
  PORTOLAN_AGENT_PROGRESS_SECONDS: { field: 'progressSeconds', kind: 'int' },
  PORTOLAN_AGENT_SPOOL_MAX_ENTRIES: { field: 'spoolMaxEntries', kind: 'int' },
  PORTOLAN_AGENT_SPOOL_MAX_BYTES: { field: 'spoolMaxBytes', kind: 'int' },
  LOG_LEVEL: { field: 'logLevel', kind: 'text' },
};

/** Reads the file (if any), applies the environment over it, validates; errors name the setting, never a token's value. */
export function loadAgentSettings(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): AgentSettings {
  const env = options.env ?? process.env;
  const file = options.file ?? env['PORTOLAN_AGENT_CONFIG'];
  let raw: Record<string, unknown> = {};
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new DomainError('invalid_config', `agent configuration file ${file} could not be read: ${(error as Error).message}`);
    }
  }
  for (const [name, { field, kind }] of Object.entries(ENV)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    raw[field] = kind === 'bool' ? ['true', '1', 'yes'].includes(value.toLowerCase()) : kind === 'int' ? Number(value) : value;
  }
  const parsed = AgentSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DomainError('invalid_config', `invalid agent configuration${file ? ` (${file} and environment)` : ''}: ${problems.join('; ')}`, { problems });
  }
  // Checked here, so a bad proxy stops the agent at start with the setting named (never its value: it may hold a password).
  if (parsed.data.hubProxy) parseHubProxy(parsed.data.hubProxy);
  return parsed.data;
}
