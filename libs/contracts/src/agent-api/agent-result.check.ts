import { IsoDateSchema, UuidSchema } from '../common/primitives.schema';
import { AgentResult } from './agent-api.schema';

/**
 * A quick check of a result upload against `AgentResultSchema`, for the gateway's hot path: true
 * only when the value already is exactly what the schema would give back (every rule met, no
 * key the schema does not know, nothing to strip or default), so the value can be used as it is.
 * False says nothing more: the caller then asks the schema, which accepts (stripping what it
 * strips) or names what is wrong. At 50 observations an upload the schema's parse, which builds
 * a copy of the whole value, cost ~45 us of the gateway's ~300 us per upload; this allocates nothing.
 *
 * It is a second statement of the rules, so `agent-result.check.spec.ts` holds it to the
 * schema: the keys each object may have must be the schema's own, and across thousands of
 * mutated uploads this check never accepts what the schema refuses or would change.
 */
export function isExactAgentResult(value: unknown): value is AgentResult {
  if (!isRecord(value) || !hasOnly(value, RESULT_KEYS)) return false;
  const v = value;
  if (!isUuid(v['jobId']) || !isUuid(v['trackerId'])) return false;
  if (!TRIGGERS.has(v['trigger'] as string) || !STATUSES.has(v['status'] as string) || !ENGINES.has(v['engine'] as string)) return false;
  if (!isText(v['engineVersion'], 0, 128) || !isTextArray(v['args'], 512, 0, 4096)) return false;
  if (!isDate(v['startedAt']) || !isDate(v['finishedAt'])) return false;
  // As the schema's refinement: a time Date.parse cannot read (NaN) fails it too.
  if (!(Date.parse(v['finishedAt'] as string) >= Date.parse(v['startedAt'] as string))) return false;
  const coverage = v['coverage'];
  if (!isRecord(coverage) || !hasOnly(coverage, COVERAGE_KEYS) || !isPortSet(coverage['ports'])) return false;
  const hosts = v['hosts'];
  if (!Array.isArray(hosts) || hosts.length > 4096) return false;
  for (const host of hosts) if (!isHost(host)) return false;
  const failed = v['status'] === 'failed';
  if (!('error' in v)) return !failed;
  return failed && isError(v['error']);
}

/** The keys each object may have, as the schemas define them (the spec compares them). */
export const AGENT_RESULT_KEYS = {
  result: ['jobId', 'trackerId', 'trigger', 'status', 'engine', 'engineVersion', 'args', 'startedAt', 'finishedAt', 'coverage', 'hosts', 'error'],
  coverage: ['ports'],
  portSet: ['tcp', 'udp'],
  portRange: ['from', 'to'],
  /** `items` (collectors' observations) is left to the schema: agents do not send them. */
  host: ['address', 'hostnames', 'state', 'reason', 'ports'],
  port: ['protocol', 'port', 'state', 'reason', 'service', 'product', 'version', 'process', 'bindAddress', 'pid'],
  error: ['code', 'message'],
} as const;

const RESULT_KEYS = new Set<string>(AGENT_RESULT_KEYS.result);
const COVERAGE_KEYS = new Set<string>(AGENT_RESULT_KEYS.coverage);
const PORT_SET_KEYS = new Set<string>(AGENT_RESULT_KEYS.portSet);
const RANGE_KEYS = new Set<string>(AGENT_RESULT_KEYS.portRange);
const HOST_KEYS = new Set<string>(AGENT_RESULT_KEYS.host);
const PORT_KEYS = new Set<string>(AGENT_RESULT_KEYS.port);
const ERROR_KEYS = new Set<string>(AGENT_RESULT_KEYS.error);
const TRIGGERS = new Set(['manual', 'schedule', 'agent-startup']);
const STATUSES = new Set(['completed', 'failed']);
const ENGINES = new Set(['nmap', 'connect', 'ss', 'netstat']);
const HOST_STATES = new Set(['up', 'down', 'unknown']);
const PROTOCOLS = new Set(['tcp', 'udp']);
const PORT_STATES = new Set(['open', 'closed', 'filtered', 'unfiltered', 'open|filtered', 'closed|filtered']);

function isHost(value: unknown): boolean {
  if (!isRecord(value) || !hasOnly(value, HOST_KEYS)) return false;
  if (!isText(value['address'], 1, 255) || !isTextArray(value['hostnames'], 32, 0, 255) || !HOST_STATES.has(value['state'] as string)) return false;
  const reason = value['reason'];
  if (reason !== undefined && !isText(reason, 0, 64)) return false;
  const ports = value['ports'];
  if (!Array.isArray(ports) || ports.length > 131070) return false;
  for (const port of ports) if (!isPort(port)) return false;
  return true;
}

function isPort(value: unknown): boolean {
  if (!isRecord(value) || !hasOnly(value, PORT_KEYS)) return false;
  if (!PROTOCOLS.has(value['protocol'] as string) || !isInt(value['port'], 1, 65535) || !PORT_STATES.has(value['state'] as string)) return false;
  // Each optional key read by its own name (after `hasOnly`, absent is undefined): one key
  // passed to a shared helper made every lookup megamorphic, a third of this check's time.
  const { reason, service, product, version, process, bindAddress, pid } = value;
  return (
    (reason === undefined || isText(reason, 0, 64)) &&
    (service === undefined || isText(service, 0, 128)) &&
    (product === undefined || isText(product, 0, 256)) &&
    (version === undefined || isText(version, 0, 256)) &&
    (process === undefined || isText(process, 0, 256)) &&
    (bindAddress === undefined || isText(bindAddress, 1, 64)) &&
    (pid === undefined || isInt(pid, 0, 2 ** 31))
  );
}

function isPortSet(value: unknown): boolean {
  if (!isRecord(value) || !hasOnly(value, PORT_SET_KEYS)) return false;
  return isRanges(value['tcp']) && isRanges(value['udp']);
}

function isRanges(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  for (const range of value) {
    if (!isRecord(range) || !hasOnly(range, RANGE_KEYS) || !isInt(range['from'], 1, 65535) || !isInt(range['to'], 1, 65535)) return false;
    if ((range['from'] as number) > (range['to'] as number)) return false;
  }
  return true;
}

function isError(value: unknown): boolean {
  return isRecord(value) && hasOnly(value, ERROR_KEYS) && isText(value['code'], 0, 64) && isText(value['message'], 0, 2000);
}

/** A plain object, as JSON.parse makes them (anything else, even what the schema would take, goes to the schema). */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Every key of the object is one of these, and none holds `undefined` (the schema would drop it). */
function hasOnly(value: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  for (const key in value) if (!keys.has(key) || value[key] === undefined) return false;
  return true;
}

function isText(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

function isTextArray(value: unknown, maxItems: number, min: number, max: number): boolean {
  if (!Array.isArray(value) || value.length > maxItems) return false;
  for (const item of value) if (!isText(item, min, max)) return false;
  return true;
}

function isInt(value: unknown, min: number, max: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** Identifiers and times are few per upload: the schema's own checks, so the two never differ. */
function isUuid(value: unknown): boolean {
  return typeof value === 'string' && UuidSchema.safeParse(value).success;
}

function isDate(value: unknown): boolean {
  return typeof value === 'string' && IsoDateSchema.safeParse(value).success;
}
