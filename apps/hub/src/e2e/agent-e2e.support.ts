import { readdirSync, readFileSync } from 'node:fs';
import type { Client } from 'pg';
import { sleep } from './service.process';

/** What the agent tests read back from the REST API. */
export interface EventItem {
  kind: string;
  host: string | null;
  protocol: string | null;
  port: number | null;
  trackerId: string | null;
  jobId: string | null;
  after: Record<string, unknown> | null;
  details: Record<string, unknown> | null;
}

export interface AgentItem {
  id: string;
  status: string;
  version: string;
  features: string[];
  lastSeenAt: string | null;
  spool: { entries: number; dropped: number };
  config: { version: number; applied: number | null; pending: boolean };
  hostname: string;
  os: { platform: string; release: string; description: string | null };
  duplicatedAt: string | null;
  authFailures: number;
}

export type ErrorBody = { error: { code: string; message: string; details?: Record<string, unknown> } };

/** The tracker's ports in the agent tests: TCP 40000-40100. */
export const PORTS = { tcp: [{ from: 40000, to: 40100 }], udp: [] };
export const SELF_TRACKER = {
  type: 'network-port',
  mode: 'self',
  ports: [{ range: '40000-40100', protocol: 'tcp' }],
  schedule: { kind: 'at-agent-startup' },
  sendBaselineEvents: false,
} as const;
/** A remote scan of the tests' ports, TCP 40000-40100, run when asked (its cron comes once a year): add name, deviceId and what differs. */
export const REMOTE_TRACKER = {
  type: 'network-port',
  mode: 'remote',
  ports: [{ range: '40000-40100', protocol: 'tcp' }],
  schedule: { kind: 'cron', cron: '0 0 1 1 *' },
  sendBaselineEvents: false,
} as const;

export interface Port {
  port: number;
  process?: string;
}

/** A self-scan result as an agent uploads it: one host (its own), listening sockets on 127.0.0.1. */
export function selfResult(jobId: string, trackerId: string, ports: Port[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    jobId,
    trackerId,
    trigger: 'agent-startup',
    status: 'completed',
    engine: 'ss',
    engineVersion: 'iproute2-6.1',
    args: ['-H', '-l', '-n', '-t', '-p'],
    startedAt: new Date(Date.now() - 1_000).toISOString(),
    finishedAt: new Date().toISOString(),
    coverage: { ports: PORTS },
    hosts: [
      {
        address: '127.0.0.1',
        hostnames: [],
        state: 'up',
        ports: ports.map((p) => ({ protocol: 'tcp', port: p.port, state: 'open', bindAddress: '127.0.0.1', process: p.process ?? 'node', pid: 123 })),
      },
    ],
    ...overrides,
  };
}

/** Reads until `done` holds, bounded in time; returns the last value read. */
export async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; last: ${JSON.stringify(value).slice(0, 1500)}`);
    await sleep(200);
  }
}

/** Whether an nmap process of this host is scanning the target (its arguments name it). */
export function nmapScanning(target: string): boolean {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .some((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return /(^|\/)nmap$/.test(argv[0] ?? '') && argv.includes(target);
      } catch {
        return false; // gone meanwhile
      }
    });
}

/** The per-day event counts (per device, and estate-wide) agree with the events stored, kind by kind, read in one snapshot. */
export async function expectEventCountsAgree(sql: Client): Promise<void> {
  const byKind = (from: string) => `(SELECT coalesce(json_object_agg(kind, n ORDER BY kind), '{}') FROM (${from} GROUP BY kind) c)`;
  const { rows } = await sql.query(
    `SELECT ${byKind('SELECT kind, count(*)::int AS n FROM events')} AS events,
            ${byKind('SELECT kind, sum(n)::int AS n FROM event_counts_estate')} AS estate,
            ${byKind('SELECT kind, count(*)::int AS n FROM events WHERE device_id IS NOT NULL')} AS device_events,
            ${byKind('SELECT kind, sum(n)::int AS n FROM event_counts')} AS per_device`,
  );
  expect(rows[0].estate).toEqual(rows[0].events);
  expect(rows[0].per_device).toEqual(rows[0].device_events);
}
