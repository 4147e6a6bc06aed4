/**
 * Comparer throughput: 1,000 devices × 100 open ports are baselined, then rescanned with 2% of
 * the observations changed (per device one port closed, one opened), each scan result published
 * on the results stream (NATS JetStream) and applied by a comparer process into Postgres, as in
 * production. Reported as observations/s per phase beside a raw `COPY` of the same rows
 * (current_items) into the same Postgres, in the same run, with their ratio.
 *
 *   node -r @swc-node/register bench/comparer/run.ts [--devices 1000] [--ports 100] [--rounds 2] [--comparers 1] [--profile]
 *
 * Nothing is scanned: the results are synthetic, their addresses 127.0.x.y. Every wait is bounded.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { JetStreamBus } from '@portolan/bus';
import { Messages, ScanCompleted } from '@portolan/contracts';
import { createLogger } from '@portolan/logging';
import { createTestDatabase, MIGRATIONS, MIGRATIONS_TABLE } from '@portolan/persistence';
import { option, sleep } from '../common/cli';

const ROOT = resolve(__dirname, '..', '..');
const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const FIRST_PORT = 20_000;
const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of the given processes, from /proc. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended
    }
  }
  return ticks / TICKS;
}

/** Postgres server processes (the backends serving the bench and the background workers). */
function postgresPids(): number[] {
  const out = spawnSync('pgrep', ['-f', '^postgres'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}


interface Device {
  deviceId: string;
  trackerId: string;
  address: string;
  ports: number[];
}

async function main(): Promise<void> {
  const devices = option('--devices', 1_000, 20_000);
  const portsPer = option('--ports', 100, 1_000);
  const rounds = option('--rounds', 2, 10);
  const db = await createTestDatabase('portolan_bench_comparer');
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-bench-comparer-'));
  // --profile: a V8 CPU profile of the comparer, written to bench/out when it exits.
  const profile = process.argv.includes('--profile') ? ['--cpu-prof', '--cpu-prof-dir', join(ROOT, 'bench', 'out')] : [];
  const replicas = option('--comparers', 1, 8);
  let log = '';
  const comparers = Array.from({ length: replicas }, (_, i) => {
    const child = spawn(process.execPath, [...profile, '-r', '@swc-node/register', join(ROOT, 'apps', 'comparer', 'src', 'main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', DATABASE_URL: db.url, NATS_URL: NATS, PORTOLAN_DATA_DIR: dataDir, LOG_LEVEL: 'warn', PORTOLAN_INSTANCE: `comparer-${i + 1}`, ...(process.env['BENCH_CHILD_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_CHILD_NODE_OPTIONS'] } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
    child.stderr.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-20_000)));
    return child;
  });
  const pids = () => comparers.map((c) => c.pid as number);
  const pg = new Client({ connectionString: db.url });
  const bus = await JetStreamBus.connect({ servers: NATS, name: 'bench-comparer', logger: createLogger({ service: 'bench-comparer', version: 'bench', level: 'warn' }) });
  try {
    await pg.connect();
    const applied = async () => Number((await pg.query(`SELECT count(*) AS n FROM ${MIGRATIONS_TABLE}`)).rows[0].n);
    const migrated = async () => (await pg.query(`SELECT to_regclass('public.${MIGRATIONS_TABLE}') AS t`)).rows[0].t !== null && (await applied()) === MIGRATIONS.length;
    await waitFor('the comparer migrated the database', migrated, 120_000, () => log);
    await sleep(3_000); // its consumers bind after the migrations
    await bus.start();
    const fleet = await seed(pg, devices, portsPer);
    const phases: Record<string, unknown>[] = [];
    const baseline = await phase(pg, bus, fleet, 'baseline', () => log, pids());
    phases.push(baseline);
    for (let round = 1; round <= rounds; round++) {
      for (const d of fleet) {
        // 2%: one port of every 100 closes, one opens.
        const changes = Math.max(1, Math.round(portsPer * 0.01));
        d.ports = [...d.ports.slice(changes), ...Array.from({ length: changes }, (_, i) => FIRST_PORT + portsPer + round * changes + i)];
      }
      phases.push(await phase(pg, bus, fleet, `rescan ${round} (2% changed)`, () => log, pids()));
    }
    const scans = (await pg.query(`SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables ORDER BY seq_tup_read DESC LIMIT 6`)).rows;
    console.log(JSON.stringify({ tableScans: scans }));
    const events = (await pg.query(`SELECT kind, count(*)::int AS n FROM events WHERE kind <> 'communications' GROUP BY kind ORDER BY kind`)).rows;
    const copy = copyReference(db.url, pg, fleet, dataDir);
    const copyFigures = await copy;
    const rescans = phases.slice(1) as { observationsPerSecond: number }[];
    const best = Math.max(...rescans.map((p) => p.observationsPerSecond));
    const report = {
      startedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      devices,
      portsPerDevice: portsPer,
      comparers: replicas,
      phases,
      events,
      copy: copyFigures,
      ratio: { baselineToCopy: round3((baseline['observationsPerSecond'] as number) / copyFigures.rowsPerSecond), bestRescanToCopy: round3(best / copyFigures.rowsPerSecond) },
      target: 'rescan at least 40% of the COPY rate',
      verdict: best / copyFigures.rowsPerSecond >= 0.4 ? 'MET' : 'NOT MET',
    };
    mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'out', 'comparer-results.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await bus.close().catch(() => undefined);
    for (const c of comparers) c.kill('SIGTERM');
    for (let i = 0; i < 100 && comparers.some((c) => c.exitCode === null); i++) await sleep(100);
    for (const c of comparers) if (c.exitCode === null) c.kill('SIGKILL');
    await pg.end().catch(() => undefined);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function seed(pg: Client, devices: number, portsPer: number): Promise<Device[]> {
  const fleet: Device[] = Array.from({ length: devices }, (_, i) => ({
    deviceId: randomUUID(),
    trackerId: randomUUID(),
    address: `127.0.${10 + Math.floor(i / 250)}.${(i % 250) + 1}`,
    ports: Array.from({ length: portsPer }, (_, p) => FIRST_PORT + p),
  }));
  const portSet = JSON.stringify({ tcp: [{ from: FIRST_PORT, to: FIRST_PORT + 9_999 }], udp: [] });
  await pg.query(
    `INSERT INTO devices (id, name, kind, address, normalized_address, host_count)
     SELECT v.id, 'bench ' || v.address, 'host', v.address, v.address, 1 FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, address text)`,
    [JSON.stringify(fleet.map((d) => ({ id: d.deviceId, address: d.address })))],
  );
  await pg.query(
    `INSERT INTO trackers (id, name, device_id, type, mode, port_rules, port_set, schedule, send_baseline_events, tcp_technique)
     SELECT v.tracker_id, 'bench', v.device_id, 'network-port', 'remote', '[]', $2::jsonb, '{"kind":"once"}', false, 'auto' FROM jsonb_to_recordset($1::jsonb) AS v(tracker_id uuid, device_id uuid)`,
    [JSON.stringify(fleet.map((d) => ({ tracker_id: d.trackerId, device_id: d.deviceId }))), portSet],
  );
  return fleet;
}

/** One scan of the whole fleet: jobs and chunks stored, one result per device published, timed until every job is settled. */
async function phase(pg: Client, bus: JetStreamBus, fleet: Device[], name: string, log: () => string, comparerPids: number[]): Promise<Record<string, unknown>> {
  const jobs = fleet.map((d) => ({ ...d, jobId: randomUUID(), chunkId: randomUUID() }));
  await pg.query(
    `INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, started_at, chunk_count, hosts_planned)
     SELECT v.job_id, v.tracker_id, v.device_id, 'schedule', 'running', now(), now(), 1, 1 FROM jsonb_to_recordset($1::jsonb) AS v(job_id uuid, tracker_id uuid, device_id uuid)`,
    [JSON.stringify(jobs.map((j) => ({ job_id: j.jobId, tracker_id: j.trackerId, device_id: j.deviceId })))],
  );
  await pg.query(
    `INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline)
     SELECT v.chunk_id, v.job_id, 0, '[]', 1, 10000, 'running', now(), now() + interval '1 hour' FROM jsonb_to_recordset($1::jsonb) AS v(chunk_id uuid, job_id uuid)`,
    [JSON.stringify(jobs.map((j) => ({ chunk_id: j.chunkId, job_id: j.jobId })))],
  );
  const startedAt = new Date();
  const results: ScanCompleted[] = jobs.map((j) => ({
    jobId: j.jobId,
    chunkId: j.chunkId,
    trackerId: j.trackerId,
    deviceId: j.deviceId,
    worker: 'bench',
    engine: 'nmap',
    engineVersion: '7.93',
    args: [],
    startedAt: startedAt.toISOString(),
    finishedAt: startedAt.toISOString(),
    durationMs: 1,
    coverage: { ports: { tcp: [{ from: FIRST_PORT, to: FIRST_PORT + 9_999 }], udp: [] } },
    hosts: [{ address: j.address, hostnames: [], state: 'up', ports: j.ports.map((port) => ({ protocol: 'tcp' as const, port, state: 'open' as const, service: 'unknown' })) }],
  }));
  const observations = results.length * fleet[0].ports.length;
  const pgPids = postgresPids();
  const cpu0 = { comparer: cpuSeconds(comparerPids), postgres: cpuSeconds(pgPids) };
  const t0 = performance.now();
  for (let i = 0; i < results.length; i += 200) {
    await Promise.all(results.slice(i, i + 200).map((r) => bus.publish(Messages.scanCompleted, r, { messageId: r.chunkId, correlationId: r.jobId })));
  }
  const published = performance.now();
  const ids = jobs.map((j) => j.jobId);
  await waitFor(`${name}: every job settled`, async () => (await pg.query(`SELECT count(*)::int AS n FROM scan_jobs WHERE id = ANY($1) AND status IN ('succeeded', 'partial', 'failed')`, [ids])).rows[0].n === ids.length, 600_000, log);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = { comparerPercent: Math.round(((cpuSeconds(comparerPids) - cpu0.comparer) / seconds) * 100), postgresPercent: Math.round(((cpuSeconds(pgPids) - cpu0.postgres) / seconds) * 100) };
  const figures = { phase: name, ...cpu, results: results.length, observations, seconds: round3(seconds), publishSeconds: round3((published - t0) / 1000), observationsPerSecond: Math.round(observations / seconds), resultsPerSecond: Math.round(results.length / seconds) };
  console.log(JSON.stringify(figures));
  return figures;
}

/** The reference: the same rows a baseline holds, written by Postgres's own COPY (psql \copy from a CSV file). */
async function copyReference(url: string, pg: Client, fleet: Device[], dir: string): Promise<{ rows: number; seconds: number; rowsPerSecond: number }> {
  await pg.query(`CREATE TABLE bench_copy (LIKE current_items INCLUDING ALL)`);
  const now = new Date().toISOString();
  const jobId = randomUUID();
  const lines: string[] = [];
  for (const d of fleet) {
    for (const port of d.ports) {
      const attributes = JSON.stringify({ protocol: 'tcp', port, state: 'open', service: 'unknown', product: null, version: null }).replace(/"/g, '""');
      lines.push(`${d.trackerId},${d.address},port,tcp/${port},${d.deviceId},"${attributes}",${now},${now},${jobId}`);
    }
  }
  const file = join(dir, 'copy.csv');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const t0 = performance.now();
  const run = spawnSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy bench_copy (tracker_id, host, item_type, item_key, device_id, attributes, first_seen_at, last_seen_at, last_job_id) FROM '${file}' WITH (FORMAT csv)`], { encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`psql \\copy failed: ${run.stderr}`);
  const figures = { rows: lines.length, seconds: round3(seconds), rowsPerSecond: Math.round(lines.length / seconds) };
  console.log(JSON.stringify({ reference: 'COPY', ...figures }));
  return figures;
}

async function waitFor(what: string, ready: () => Promise<boolean>, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms; comparer log:\n${log().slice(-3000)}`);
    await sleep(50);
  }
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
