/**
 * Alert latency: recorded events published on the events stream at a steady rate, matched by an
 * alerting process (real Postgres, real NATS JetStream) and delivered to a webhook receiver in
 * this process, on 127.0.0.1; latency is from publish to receipt. Beside it, in the same run, the
 * reference: a bare relay (core NATS subscription → HTTP POST) carrying the same load.
 *
 *   node -r @swc-node/register bench/alerting/run.ts [--rate 500] [--seconds 60]
 *
 * Everything listens on and talks to 127.0.0.1; every wait is bounded.
 */
import { fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Client } from 'pg';
import { JetStreamBus } from '@portolan/bus';
import { EventRecorded, Messages } from '@portolan/contracts';
import { createLogger } from '@portolan/logging';
import { createTestDatabase } from '@portolan/persistence';
import { option, percentile, round1, sleep } from '../common/cli';

const ROOT = resolve(__dirname, '..', '..');
const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';



/** A receiver that notes when each event id arrived (the body's event.id, or id for the relay). */
async function receiver(): Promise<{ url: string; arrivals: Map<string, number>; close: () => Promise<void> }> {
  const arrivals = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now() + performance.timeOrigin;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event?: { id: string }; eventId?: string };
        const id = body.event?.id ?? body.eventId;
        if (id && !arrivals.has(id)) arrivals.set(id, at);
      } catch {
        // counted as lost
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, arrivals, close: () => new Promise((r) => server.close(() => r())) };
}

/** Publishes `rate` events a second for `seconds`, paced in 10 ms ticks; returns each event's publish time. */
async function drive(rate: number, seconds: number, publish: (e: EventRecorded) => Promise<unknown> | void, deviceId: string): Promise<Map<string, number>> {
  const sent = new Map<string, number>();
  const total = rate * seconds;
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate));
    for (; i < due; i++) {
      const e: EventRecorded = {
        eventId: randomUUID(),
        kind: 'added',
        deviceId,
        trackerId: null,
        jobId: null,
        host: '127.0.0.71',
        itemType: 'port',
        itemKey: `tcp/${40000 + (i % 100)}`,
        before: null,
        after: { protocol: 'tcp', port: 40000 + (i % 100), state: 'open' },
        planned: false,
        plannedChangeId: null,
        occurredAt: new Date().toISOString(),
      };
      sent.set(e.eventId, performance.now() + performance.timeOrigin);
      const p = publish(e);
      if (p) pending.push(p);
    }
    if (performance.now() - start > (seconds + 30) * 1000) throw new Error('the publisher fell behind by more than 30 s');
    await sleep(10);
  }
  await Promise.all(pending);
  return sent;
}

async function settle(sent: Map<string, number>, arrivals: Map<string, number>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (arrivals.size < sent.size && Date.now() < deadline) await sleep(100);
}

function figures(name: string, sent: Map<string, number>, arrivals: Map<string, number>) {
  const latencies = [...sent].flatMap(([id, at]) => (arrivals.has(id) ? [(arrivals.get(id) as number) - at] : []));
  return { variant: name, sent: sent.size, received: latencies.length, lost: sent.size - latencies.length, p50Ms: round1(percentile(latencies, 50)), p99Ms: round1(percentile(latencies, 99)), maxMs: round1(Math.max(...latencies)) };
}

async function main(): Promise<void> {
  const rate = option('--rate', 500, 5_000);
  const seconds = option('--seconds', 60, 600);
  const db = await createTestDatabase('portolan_bench_alerting');
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-bench-alerting-'));
  const pg = new Client({ connectionString: db.url });
  const hook = await receiver();
  const bus = await JetStreamBus.connect({ servers: NATS, name: 'bench-alerting', logger: createLogger({ service: 'bench-alerting', version: 'bench', level: 'warn' }) });
  let alerting: ReturnType<typeof spawn> | undefined;
  let relay: ReturnType<typeof fork> | undefined;
  try {
    // The alerting process migrates the database; the bench then adds a device, a channel and a rule.
    alerting = spawn(process.execPath, ['-r', '@swc-node/register', join(ROOT, 'apps', 'alerting', 'src', 'main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', DATABASE_URL: db.url, NATS_URL: NATS, PORTOLAN_DATA_DIR: dataDir, LOG_LEVEL: 'warn', ALERTING_POLL_MS: '200' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await pg.connect();
    for (let i = 0; i < 1200 && !(await pg.query(`SELECT to_regclass('public.alert_storms') AS t`)).rows[0].t; i++) await sleep(100);
    await sleep(2_000); // its consumer binds after the migrations
    await bus.start();
    const [{ id: deviceId }] = (await pg.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('bench', 'host', '127.0.0.71', '127.0.0.71', 1) RETURNING id`)).rows;
    const channelId = randomUUID();
    await pg.query(`INSERT INTO alert_channels (id, name, type, settings, created_at) VALUES ($1, 'bench hook', 'webhook', $2, now())`, [channelId, JSON.stringify({ url: hook.url })]);
    await pg.query(`INSERT INTO alert_rules (id, name, enabled, scope, filter, severity, channel_ids, created_at) VALUES ($1, 'bench', true, $2, $3, 'high', $4, now())`, [
      randomUUID(),
      JSON.stringify({ deviceIds: [deviceId], groupIds: [], siteIds: [], trackerIds: [] }),
      JSON.stringify({ kinds: [], itemTypes: [], planned: 'both', keyPattern: null }),
      [channelId],
    ]);
    await sleep(2_500); // rules are read at most every 2 s

    const portolanSent = await drive(rate, seconds, (e) => bus.publish(Messages.eventRecorded, e, { messageId: e.eventId }), deviceId);
    await settle(portolanSent, hook.arrivals, 60_000);
    const portolan = figures('Portolan (JetStream → alerting → webhook)', portolanSent, hook.arrivals);
    console.log(JSON.stringify(portolan));

    // Reference: the bare relay over core NATS.
    const subject = `bench.alerting.relay.${randomUUID()}`;
    relay = fork(join(__dirname, 'relay.ts'), [NATS, subject, hook.url], { execArgv: ['-r', '@swc-node/register'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((r, reject) => {
      relay?.once('message', () => r());
      relay?.once('exit', (code) => reject(new Error(`the relay exited (${code})`)));
    });
    const nc = await connect({ servers: NATS });
    const relaySent = await drive(rate, seconds, (e) => nc.publish(subject, JSON.stringify(e)), deviceId);
    await settle(relaySent, hook.arrivals, 30_000);
    await nc.close();
    const bare = figures('bare relay (core NATS → HTTP POST)', relaySent, hook.arrivals);
    console.log(JSON.stringify(bare));
    const [{ delivered, attempts }] = (await pg.query(`SELECT count(*) FILTER (WHERE status = 'delivered')::int AS delivered, max(attempts)::int AS attempts FROM alert_deliveries`)).rows;
    const report = {
      startedAt: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      rate,
      seconds,
      results: [portolan, bare],
      deliveriesStored: delivered,
      maxAttempts: attempts,
      ratio: { p50: round1(portolan.p50Ms / bare.p50Ms), p99: round1(portolan.p99Ms / bare.p99Ms) },
      verdict: portolan.p99Ms < 200 && portolan.lost === 0 ? 'MET' : 'NOT MET',
    };
    mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'out', 'alerting-results.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log(JSON.stringify({ ratio: report.ratio, verdict: report.verdict }));
  } finally {
    relay?.kill('SIGTERM');
    alerting?.kill('SIGTERM');
    await sleep(1_500);
    if (alerting && alerting.exitCode === null) alerting.kill('SIGKILL');
    await bus.close().catch(() => undefined);
    await hook.close();
    await pg.end().catch(() => undefined);
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
