import { randomBytes } from 'node:crypto';
/**
 * Event queries at scale: 5,000,000 events over 90 days across 20,000 devices (in 200 groups)
 * are written into the real schema (monthly partitions, the same indexes), then the five
 * commonest console queries are asked of a gateway process over HTTP, and a CSV export of
 * 1,000,000 events is streamed, with the gateway's memory sampled. References in the same run:
 * the same SQL asked of Postgres directly, and psql `\copy (SELECT ...) TO` for the export.
 *
 *   node -r @swc-node/register bench/events/run.ts [--events 5000000] [--devices 20000] [--runs 40] [--gateway-heap-mb N]
 *
 * Nothing is scanned; the gateway listens on 127.0.0.1. Every wait is bounded.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { createDataSource, createTestDatabase, ensureEventPartitions, migrate } from '@portolan/persistence';
import { option, percentile, round1, sleep } from '../common/cli';

const ROOT = resolve(__dirname, '..', '..');
const DAY_MS = 86_400_000;



async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The gateway's admin token for this run (the queries are operator API calls). */
const ADMIN_TOKEN = `ptop_${randomBytes(32).toString('base64url')}`;
const OPERATOR = { authorization: `Bearer ${ADMIN_TOKEN}` };

function get(port: number, path: string): Promise<{ status: number; bytes: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolveGet, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 120_000, headers: OPERATOR }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0 }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

function getJson<T>(port: number, path: string): Promise<T> {
  return new Promise((resolveGet, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: 60_000, headers: OPERATOR }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveGet(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T));
    });
    req.on('error', reject);
    req.end();
  });
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const total = option('--events', 5_000_000, 20_000_000);
  const devices = option('--devices', 20_000, 200_000);
  const runs = option('--runs', 40, 1_000);
  const db = await createTestDatabase('portolan_bench_events');
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-bench-events-'));
  const pg = new Client({ connectionString: db.url });
  let gateway: ReturnType<typeof spawn> | undefined;
  try {
    const source = createDataSource({ url: db.url, dataDir });
    await source.initialize();
    await migrate(source);
    const now = new Date();
    await ensureEventPartitions(source.manager, new Date(now.getTime() - 91 * DAY_MS), now);
    await source.destroy();
    await pg.connect();
    const seeded = await seed(pg, total, devices, now);

    const port = await freePort();
    // --gateway-heap-mb N: a small heap proves the export holds no more than a page or so.
    const heap = process.argv.includes('--gateway-heap-mb') ? [`--max-old-space-size=${option('--gateway-heap-mb', 256, 65_536)}`] : [];
    gateway = spawn(process.execPath, [...heap, '-r', '@swc-node/register', join(ROOT, 'apps', 'gateway', 'src', 'main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', DATABASE_URL: db.url, NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', PORTOLAN_DATA_DIR: dataDir, GATEWAY_PLAIN_HTTP: 'true', GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), LOG_LEVEL: 'warn', PORTOLAN_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    for (let i = 0; i < 600; i++) {
      const ok = await get(port, '/api/health').then((r) => r.status === 200, () => false);
      if (ok) break;
      if (i === 599) throw new Error('the gateway did not become healthy');
      await sleep(100);
    }

    const day = (d: number) => new Date(now.getTime() - d * DAY_MS).toISOString();
    /** The start of the UTC day d days ago: counts are by whole days. */
    const dayStart = (d: number) => new Date(Math.floor((now.getTime() - d * DAY_MS) / DAY_MS) * DAY_MS).toISOString();
    const device = (i: number) => seeded.deviceIds[(i * 7919) % seeded.deviceIds.length];
    const group = (i: number) => seeded.groupIds[(i * 31) % seeded.groupIds.length];
    const kinds = `'added','removed','modified'`;
    const queries: { name: string; path: (i: number) => string; sql: (i: number) => [string, unknown[]] }[] = [
      {
        name: 'latest events (first page)',
        path: () => '/api/events?limit=100',
        sql: () => ['SELECT e.*, d.name FROM events e LEFT JOIN devices d ON d.id = e.device_id ORDER BY e.occurred_at DESC, e.id DESC LIMIT 101', []],
      },
      {
        name: 'one device, newest first',
        path: (i) => `/api/events?deviceId=${device(i)}&limit=100`,
        sql: (i) => ['SELECT e.*, d.name FROM events e LEFT JOIN devices d ON d.id = e.device_id WHERE e.device_id = $1 ORDER BY e.occurred_at DESC, e.id DESC LIMIT 101', [device(i)]],
      },
      {
        name: 'unplanned changes, last 24 h',
        path: () => `/api/events?type=added,removed,modified&planned=false&since=${day(1)}&limit=100`,
        sql: () => [`SELECT e.*, d.name FROM events e LEFT JOIN devices d ON d.id = e.device_id WHERE e.occurred_at >= $1 AND e.kind IN (${kinds}) AND NOT e.planned ORDER BY e.occurred_at DESC, e.id DESC LIMIT 101`, [day(1)]],
      },
      {
        name: 'one group, last 7 days',
        path: (i) => `/api/events?groupId=${group(i)}&since=${day(7)}&limit=100`,
        sql: (i) => [
          'SELECT e.*, d.name FROM events e LEFT JOIN devices d ON d.id = e.device_id WHERE e.occurred_at >= $1 AND e.device_id IN (SELECT device_id FROM device_group_members WHERE group_id = $2) ORDER BY e.occurred_at DESC, e.id DESC LIMIT 101',
          [day(7), group(i)],
        ],
      },
      {
        name: 'counts by day and kind, last 7 days',
        path: () => `/api/events/counts?by=day,kind&since=${dayStart(7)}`,
        sql: () => [`SELECT date_trunc('day', e.occurred_at AT TIME ZONE 'UTC') AS day, e.kind, count(*) FROM events e WHERE e.occurred_at >= $1 GROUP BY 1, 2`, [dayStart(7)]],
      },
    ];
    const results: Record<string, unknown>[] = [];
    for (const q of queries) {
      for (let i = 0; i < 3; i++) await get(port, q.path(i)); // warm
      const api: number[] = [];
      const raw: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await get(port, q.path(i));
        if (r.status !== 200) throw new Error(`${q.name}: HTTP ${r.status}`);
        api.push(r.ms);
        const [text, params] = q.sql(i);
        const t0 = performance.now();
        await pg.query(text, params);
        raw.push(performance.now() - t0);
      }
      const row = { query: q.name, apiP50Ms: round1(percentile(api, 50)), apiP95Ms: round1(percentile(api, 95)), sqlP95Ms: round1(percentile(raw, 95)), ratio: round1(percentile(api, 95) / percentile(raw, 95)) };
      console.log(JSON.stringify(row));
      results.push(row);
    }

    // The daily counts agree with counting the events themselves.
    const counted = await getJson<{ items: { count: number }[] }>(port, `/api/events/counts?by=day,kind&since=${dayStart(7)}`);
    const [{ n: exact }] = (await pg.query(`SELECT count(*)::int AS n FROM events WHERE occurred_at >= $1`, [dayStart(7)])).rows as { n: number }[];
    const fromCounts = counted.items.reduce((sum, c) => sum + c.count, 0);
    if (fromCounts !== exact) throw new Error(`daily counts say ${fromCounts} events in the last 7 days; the events table has ${exact}`);

    // Export: the oldest 100,000 and then 1,000,000 events, as CSV, with the gateway's memory
    // sampled: flat memory is the same peak for ten times the events.
    const exportOf = async (count: number) => {
      const [boundary] = (await pg.query(`SELECT occurred_at AS until FROM events ORDER BY occurred_at OFFSET $1 LIMIT 1`, [count])).rows as { until: Date }[];
      const until = boundary?.until ?? new Date(now.getTime() + 1_000);
      const rssBefore = rssMiB(gateway?.pid as number);
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(gateway?.pid as number))), 100);
      const response = await get(port, `/api/events/export?format=csv&until=${new Date(until).toISOString()}`);
      clearInterval(sampler);
      if (response.status !== 200) throw new Error(`export: HTTP ${response.status}`);
      return { until, response, rssBefore, rssPeak };
    };
    const small = await exportOf(Math.min(100_000, total));
    const exportCount = Math.min(1_000_000, total);
    const { until, response: exported, rssBefore, rssPeak } = await exportOf(exportCount);
    const file = join(dataDir, 'reference.csv');
    const t0 = performance.now();
    const copy = spawnSync('psql', [db.url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy (SELECT e.*, d.name FROM events e LEFT JOIN devices d ON d.id = e.device_id WHERE e.occurred_at < '${new Date(until).toISOString()}' ORDER BY e.occurred_at, e.id) TO '${file}' WITH (FORMAT csv)`], { encoding: 'utf8' });
    const copySeconds = (performance.now() - t0) / 1000;
    if (copy.status !== 0) throw new Error(`psql \\copy failed: ${copy.stderr}`);
    const exportFigures = {
      events: exportCount,
      seconds: round1(exported.ms / 1000),
      megabytes: round1(exported.bytes / 1e6),
      eventsPerSecond: Math.round(exportCount / (exported.ms / 1000)),
      gatewayRssMiB: { before: round1(rssBefore), peak: round1(rssPeak), peakExporting100k: round1(small.rssPeak) },
      seconds100k: round1(small.response.ms / 1000),
      reference: { what: 'psql \\copy (SELECT ...) TO csv', seconds: round1(copySeconds), megabytes: round1(statSync(file).size / 1e6) },
      ratio: round1(exported.ms / 1000 / copySeconds),
    };
    console.log(JSON.stringify({ export: exportFigures }));
    const report = {
      startedAt: now.toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      seed: seeded.figures,
      queries: results,
      export: exportFigures,
      targets: { queriesP95Ms: 50, exportSeconds: 30 },
      verdicts: {
        queries: results.every((r) => (r['apiP95Ms'] as number) < 50) ? 'MET' : 'NOT MET',
        export: exportFigures.seconds < 30 ? 'MET' : 'NOT MET',
      },
    };
    mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'out', 'events-results.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify(report.verdicts));
  } finally {
    gateway?.kill('SIGTERM');
    await sleep(1_000);
    if (gateway && gateway.exitCode === null) gateway.kill('SIGKILL');
    await pg.end().catch(() => undefined);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The estate and its history, written by Postgres itself (generate_series): devices in groups
 * of 100, trackers, and events spread evenly over 90 days; 80% port changes (a third of them
 * planned), the rest communications events.
 */
async function seed(pg: Client, total: number, devices: number, now: Date): Promise<{ deviceIds: string[]; groupIds: string[]; figures: Record<string, unknown> }> {
  const t0 = performance.now();
  await pg.query(
    `INSERT INTO devices (id, name, kind, address, normalized_address, host_count)
     SELECT gen_random_uuid(), 'device-' || i, 'host', '127.1.' || (i / 250) || '.' || (i % 250 + 1), '127.1.' || (i / 250) || '.' || (i % 250 + 1), 1 FROM generate_series(0, $1 - 1) AS i`,
    [devices],
  );
  await pg.query(`INSERT INTO device_groups (id, name, created_at) SELECT gen_random_uuid(), 'group-' || i, now() FROM generate_series(0, $1 - 1) AS i`, [Math.ceil(devices / 100)]);
  await pg.query(
    `INSERT INTO device_group_members (group_id, device_id)
     SELECT g.id, d.id FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM devices) d
       JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM device_groups) g ON g.n = d.n / 100`,
  );
  await pg.query(
    `INSERT INTO trackers (id, name, device_id, type, mode, port_rules, port_set, schedule, send_baseline_events, tcp_technique)
     SELECT gen_random_uuid(), 'ports', id, 'network-port', 'remote', '[]', '{"tcp":[{"from":1,"to":65535}],"udp":[]}', '{"kind":"once"}', false, 'auto' FROM devices`,
  );
  await pg.query(`CREATE TEMP TABLE fleet AS SELECT row_number() OVER () - 1 AS n, t.device_id, t.id AS tracker_id, d.address FROM trackers t JOIN devices d ON d.id = t.device_id`);
  await pg.query(`CREATE INDEX ON fleet (n)`);
  const spanMs = 90 * DAY_MS;
  const batch = 500_000;
  for (let from = 0; from < total; from += batch) {
    await pg.query(
      `INSERT INTO events (id, occurred_at, kind, device_id, tracker_id, job_id, host, item_type, item_key, before, after, planned, observed_at, details, announced_at)
       SELECT gen_random_uuid(), ts, kind, f.device_id, f.tracker_id, gen_random_uuid(), f.address,
              CASE WHEN kind = 'communications' THEN NULL ELSE 'port' END,
              CASE WHEN kind = 'communications' THEN NULL ELSE 'tcp/' || (i % 2000 + 1) END,
              CASE WHEN kind IN ('removed','modified') THEN jsonb_build_object('protocol','tcp','port', i % 2000 + 1,'state','open') END,
              CASE WHEN kind IN ('added','modified') THEN jsonb_build_object('protocol','tcp','port', i % 2000 + 1,'state','open') END,
              kind <> 'communications' AND i % 3 = 0, ts,
              CASE WHEN kind = 'communications' THEN '{"what":"scan-finished","durationMs":1200}'::jsonb END, ts
         FROM (SELECT i, $2::timestamptz - (((i * 7919) % $3) * ($4::double precision / $3)) * interval '1 millisecond' AS ts,
                      (ARRAY['added','removed','modified','added','communications'])[i % 5 + 1] AS kind
                 FROM generate_series($5::bigint, $6::bigint) AS i) g
         JOIN fleet f ON f.n = (g.i * 104729) % $1`,
      [devices, now, total, spanMs, from, Math.min(total, from + batch) - 1],
    );
    console.log(JSON.stringify({ seeded: Math.min(total, from + batch), seconds: round1((performance.now() - t0) / 1000) }));
  }
  // The daily counts, as the recorder keeps them while it writes events one batch at a time.
  await pg.query(`INSERT INTO event_counts (day, device_id, kind, planned, n) SELECT (occurred_at AT TIME ZONE 'UTC')::date, device_id, kind, planned, count(*) FROM events GROUP BY 1, 2, 3, 4`);
  await pg.query(`INSERT INTO event_counts_estate (day, shard, kind, planned, n) SELECT day, ('x' || right(device_id::text, 1))::bit(4)::int, kind, planned, sum(n) FROM event_counts GROUP BY 1, 2, 3, 4`);
  await pg.query('ANALYZE');
  const deviceIds = (await pg.query('SELECT id FROM devices ORDER BY id')).rows.map((r: { id: string }) => r.id);
  const groupIds = (await pg.query('SELECT id FROM device_groups ORDER BY id')).rows.map((r: { id: string }) => r.id);
  const [{ size }] = (await pg.query(`SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS size FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'`)).rows as { size: string }[];
  return { deviceIds, groupIds, figures: { events: total, devices, groups: groupIds.length, seconds: round1((performance.now() - t0) / 1000), eventsTableSize: size } };
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
