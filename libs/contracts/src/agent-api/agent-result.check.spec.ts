import { isDeepStrictEqual } from 'node:util';
import { ErrorInfoSchema, HostObservationSchema, PortObservationSchema, PortRangeSchema, PortSetSchema } from '../common/primitives.schema';
import { AgentResult, AgentResultSchema } from './agent-api.schema';
import { AGENT_RESULT_KEYS, isExactAgentResult } from './agent-result.check';

/** Uploads as agents send them: a self-scan, a scanning agent's nmap run, a failed run. */
const selfScan = (): AgentResult => ({
  jobId: '0b6f7a52-3c1d-4e8f-9a2b-5c6d7e8f9a0b',
  trackerId: '6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  trigger: 'schedule',
  status: 'completed',
  engine: 'ss',
  engineVersion: 'iproute2-6.1.0',
  args: ['-tulpnH'],
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:00:00.120Z',
  coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [{ from: 53, to: 53 }] } },
  hosts: [
    {
      address: 'self',
      hostnames: [],
      state: 'up',
      ports: [
        { protocol: 'tcp', port: 22, state: 'open', bindAddress: '0.0.0.0', process: 'sshd', pid: 812 },
        { protocol: 'udp', port: 53, state: 'open', bindAddress: '127.0.0.53' },
      ],
    },
  ],
});

const nmapRun = (): AgentResult => ({
  ...selfScan(),
  trigger: 'agent-startup',
  engine: 'nmap',
  engineVersion: '7.93',
  args: ['-sT', '-p', 'T:40000-40100', '127.0.0.1-3'],
  finishedAt: '2026-12-01T11:00:09+01:00',
  hosts: [
    { address: '127.0.0.1', hostnames: ['localhost'], state: 'up', reason: 'localhost-response', ports: [{ protocol: 'tcp', port: 40001, state: 'open', reason: 'syn-ack', service: 'http', product: 'nginx', version: '1.22' }] },
    { address: '127.0.0.2', hostnames: [], state: 'down', ports: [] },
  ],
});

const failedRun = (): AgentResult => ({
  ...selfScan(),
  status: 'failed',
  hosts: [],
  error: { code: 'engine_failed', message: 'ss: not found' },
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every value one field may be turned into: other types, each bound and one past it, odd numbers. */
const replacements: unknown[] = [
  undefined, null, true, 0, -1, 1, 1.5, 53, 65535, 65536, 2 ** 31, 2 ** 31 + 1, Number.NaN, Number.MAX_SAFE_INTEGER + 2,
  '', 'x', 'up', 'down', 'tcp', 'udp', 'open|filtered', 'completed', 'failed', 'manual', 'nmap', 'smb',
  '2026-12-01T09:59:59.000Z', '2026-12-01T10:00:00Z', '2026-12-01', 'not-a-uuid', '0B6F7A52-3C1D-4E8F-9A2B-5C6D7E8F9A0B',
  ...[63, 64, 65, 127, 128, 129, 253, 255, 256, 257, 2000, 2001, 4096, 4097].map((n) => 'a'.repeat(n)),
  [], [1], ['x'], {}, { from: 1, to: 2 }, { code: 'c', message: 'm' },
];

/** Each upload with one field replaced, removed, or one unknown key added: every path, every replacement. */
function* mutations(value: Json, path: string[] = []): Generator<{ path: string; make: (root: Json) => unknown }> {
  if (Array.isArray(value) || (typeof value === 'object' && value !== null)) {
    const entries = Object.entries(value) as [string, Json][];
    for (const [key, child] of entries) {
      const at = [...path, key];
      for (const replacement of replacements) yield { path: at.join('.'), make: (root) => setAt(root, at, replacement) };
      if (!Array.isArray(value)) yield { path: `${at.join('.')} removed`, make: (root) => setAt(root, at, REMOVE) };
      yield* mutations(child, at);
    }
    if (!Array.isArray(value)) yield { path: `${path.join('.')}.unknown added`, make: (root) => setAt(root, [...path, 'unknown'], 'x') };
    else yield { path: `${path.join('.')} grown`, make: (root) => setAt(root, [...path, String(value.length)], value[0] ?? 'x') };
  }
}

const REMOVE = Symbol('remove');

function setAt(root: Json, path: readonly string[], replacement: unknown): unknown {
  const copy = clone(root) as Record<string, unknown>;
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (replacement === REMOVE) delete node[last];
  else node[last] = clone(replacement);
  return copy;
}

/** A deep copy made in this realm (jest's), as the schema's output is: `structuredClone`'s objects are Node's. */
function clone(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clone);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]));
  return value;
}

describe('isExactAgentResult', () => {
  const samples = { selfScan: selfScan(), nmapRun: nmapRun(), failedRun: failedRun() };

  it.each(Object.entries(samples))('accepts %s as the schema gives it back', (_, sample) => {
    expect(AgentResultSchema.parse(sample)).toEqual(sample);
    expect(isExactAgentResult(sample)).toBe(true);
  });

  it('knows exactly the keys the schemas define', () => {
    const keys = (schema: { shape: object }) => Object.keys(schema.shape).sort();
    expect([...AGENT_RESULT_KEYS.result].sort()).toEqual(keys(AgentResultSchema));
    expect([...AGENT_RESULT_KEYS.coverage].sort()).toEqual(keys(AgentResultSchema.shape.coverage));
    expect([...AGENT_RESULT_KEYS.portSet].sort()).toEqual(keys(PortSetSchema));
    expect([...AGENT_RESULT_KEYS.portRange].sort()).toEqual(keys(PortRangeSchema));
    expect([...AGENT_RESULT_KEYS.host, 'items'].sort()).toEqual(keys(HostObservationSchema));
    expect([...AGENT_RESULT_KEYS.port].sort()).toEqual(keys(PortObservationSchema));
    expect([...AGENT_RESULT_KEYS.error].sort()).toEqual(keys(ErrorInfoSchema));
  });

  it('never accepts what the schema refuses or would change, across every one-field mutation', () => {
    let tried = 0;
    let accepted = 0;
    const wrong: string[] = [];
    for (const [name, sample] of Object.entries(samples)) {
      for (const { path, make } of mutations(sample as Json)) {
        const mutated = make(sample as Json);
        tried++;
        if (!isExactAgentResult(mutated)) continue;
        accepted++;
        const parsed = AgentResultSchema.safeParse(mutated);
        if (!parsed.success || !isDeepStrictEqual(parsed.data, mutated)) wrong.push(`${name}: ${path}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(tried).toBeGreaterThan(5_000);
    // Not a check that refuses everything: the mutations that stay valid pass it.
    expect(accepted).toBeGreaterThan(300);
  });

  it('leaves to the schema what it would strip or default, and what it refuses', () => {
    const withItems = { ...nmapRun(), hosts: [{ ...nmapRun().hosts[0], items: [] }] };
    expect(AgentResultSchema.safeParse(withItems).success).toBe(true);
    expect(isExactAgentResult(withItems)).toBe(false);
    const strayPortKey = { ...selfScan(), hosts: [{ ...selfScan().hosts[0], ports: [{ protocol: 'tcp', port: 1, state: 'open', colour: 'red' }] }] };
    expect(isExactAgentResult(strayPortKey)).toBe(false);
    expect(isExactAgentResult({ ...selfScan(), finishedAt: '2026-12-01T09:00:00.000Z' })).toBe(false);
    expect(isExactAgentResult({ ...selfScan(), error: { code: 'x', message: 'y' } })).toBe(false);
    expect(isExactAgentResult({ ...failedRun(), error: undefined })).toBe(false);
    expect(isExactAgentResult(Object.assign(Object.create({ inherited: true }), selfScan()))).toBe(false);
    expect(isExactAgentResult(JSON.parse(JSON.stringify(selfScan()).replace('"jobId"', '"__proto__":{},"jobId"')))).toBe(false);
    for (const notAnObject of [null, 'x', 1, [], [selfScan()]]) expect(isExactAgentResult(notAnObject)).toBe(false);
  });
});
