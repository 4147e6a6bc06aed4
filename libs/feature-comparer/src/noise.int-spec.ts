import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { loadPlatformConfig } from '@portolan/config';
import { ScanCompleted } from '@portolan/contracts';
import { createTestDatabase } from '@portolan/persistence';
import { DATA_SOURCE, PlatformModule } from '@portolan/platform';
import { ComparerModule } from './comparer.module';
import { ResultApplier } from './result.applier';

type PortSpec = { tcp: { from: number; to: number }[]; udp: { from: number; to: number }[] };
type Port = [protocol: 'tcp' | 'udp', port: number, state?: 'open' | 'open|filtered'];

/**
 * Noise control and coverage-aware baselines against the real Postgres, through the comparer's
 * full apply path: confirmation, flapping, a tracker's port spec changing, UDP open|filtered.
 */
describe('comparer noise control (Postgres)', () => {
  let app: INestApplicationContext;
  let db: DataSource;
  let applier: ResultApplier;
  let drop: () => Promise<void>;
  const T0 = new Date('2026-12-01T08:00:00Z');
  const minutes = (n: number) => new Date(T0.getTime() + n * 60_000);
  const RANGE: PortSpec = { tcp: [{ from: 40000, to: 40100 }], udp: [{ from: 40000, to: 40100 }] };

  beforeAll(async () => {
    const database = await createTestDatabase('portolan_noise');
    drop = database.drop;
    const config = loadPlatformConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
    @Module({ imports: [PlatformModule.forRoot({ service: 'noise-test', version: 'test', config }), ComparerModule] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    db = app.get(DATA_SOURCE);
    applier = app.get(ResultApplier);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  /** A one-host device on 127.0.0.51 and a tracker with the given noise settings; `scan` applies one complete result. */
  async function tracker(settings: { confirmations?: number; flapping?: { threshold: number; windowSeconds: number }; udp?: 'open' | 'closed' | 'ignore'; reprobe?: boolean } = {}) {
    const [device] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('d', 'host', '127.0.0.51', '127.0.0.51', 1) RETURNING id`);
    const [row] = await db.query(
      `INSERT INTO trackers (name, device_id, type, mode, port_rules, port_set, schedule, send_baseline_events, tcp_technique, confirmations, flapping, udp_open_filtered, reprobe)
       VALUES ('t', $1, 'network-port', 'remote', '[]', $2, '{"kind":"once"}', false, 'auto', $3, $4, $5, $6) RETURNING id`,
      [device.id, JSON.stringify(RANGE), settings.confirmations ?? 1, settings.flapping ? JSON.stringify(settings.flapping) : null, settings.udp ?? 'closed', settings.reprobe ?? false],
    );
    const deviceId = device.id as string;
    const trackerId = row.id as string;
    /** Applies one complete result; `reprobeJob`: as the scan of that re-probe job (planned here as the scheduler would). */
    const scan = async (at: Date, ports: Port[], coverage: PortSpec = RANGE, reprobeJob?: string, state: 'up' | 'down' = 'up') => {
      const jobId = reprobeJob ?? randomUUID();
      const chunkId = randomUUID();
      if (reprobeJob) await db.query(`UPDATE scan_jobs SET status = 'queued', chunk_count = 1, hosts_planned = 1 WHERE id = $1`, [jobId]);
      else await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count, hosts_planned) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1, 1)`, [jobId, trackerId, deviceId]);
      await db.query(`INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline) VALUES ($1, $2, 0, '[]', 1, 101, 'queued', now(), now() + interval '1 hour')`, [chunkId, jobId]);
      const result: ScanCompleted = {
        jobId,
        chunkId,
        trackerId,
        deviceId,
        worker: 'w1',
        engine: 'nmap',
        engineVersion: '7.93',
        args: [],
        startedAt: at.toISOString(),
        finishedAt: new Date(at.getTime() + 100).toISOString(),
        durationMs: 100,
        coverage: { ports: coverage },
        hosts: [{ address: '127.0.0.51', hostnames: [], state, ports: ports.map(([protocol, port, portState]) => ({ protocol, port, state: portState ?? 'open' })) }],
      };
      await applier.applyCompleted(randomUUID(), result);
      return jobId;
    };
    const events = async () =>
      ((await db.query(`SELECT kind, item_key FROM events WHERE tracker_id = $1 AND kind <> 'communications' ORDER BY observed_at, occurred_at, kind`, [trackerId])) as { kind: string; item_key: string }[]).map(
        (e) => `${e.kind} ${e.item_key}`,
      );
    const baseline = async () => ((await db.query(`SELECT item_key FROM current_items WHERE tracker_id = $1 ORDER BY item_key`, [trackerId])) as { item_key: string }[]).map((r) => r.item_key);
    const reprobes = async () =>
      (await db.query(`SELECT id, status, probe FROM scan_jobs WHERE tracker_id = $1 AND trigger = 'reprobe' ORDER BY requested_at`, [trackerId])) as { id: string; status: string; probe: { hosts: string[]; ports: PortSpec; items: string[]; attempt: number } }[];
    return { trackerId, scan, events, baseline, reprobes };
  }

  it('re-probe: a change is reported only once a scan of just its port, asked for at once, sees it again; a blip is never reported', async () => {
    const t = await tracker({ reprobe: true });
    await t.scan(minutes(0), [['tcp', 40001]]);
    await t.scan(minutes(1), [['tcp', 40001], ['tcp', 40002], ['udp', 40003]]); // two ports appear
    expect(await t.events()).toEqual([]); // not yet: they are re-probed first
    const [probe] = await t.reprobes();
    expect(probe).toMatchObject({ status: 'pending', probe: { hosts: ['127.0.0.51'], ports: { tcp: [{ from: 40002, to: 40002 }], udp: [{ from: 40003, to: 40003 }] }, items: ['127.0.0.51 tcp/40002', '127.0.0.51 udp/40003'], attempt: 1 } });
    // The re-probe sees tcp/40002 still open and udp/40003 gone again.
    await t.scan(minutes(1.5), [['tcp', 40002]], probe.probe.ports, probe.id);
    expect(await t.events()).toEqual(['added tcp/40002']);
    expect(await t.baseline()).toEqual(['tcp/40001', 'tcp/40002']); // tcp/40001 was not looked at, and stays
    const [added] = await db.query(`SELECT observed_at FROM events WHERE tracker_id = $1 AND kind = 'added'`, [t.trackerId]);
    expect(new Date(added.observed_at)).toEqual(minutes(1)); // dated from its first sighting
    expect(await t.reprobes()).toHaveLength(1); // a re-probe asks for no re-probe
    const [row] = await db.query(`SELECT observed_at, coverage FROM baselines WHERE tracker_id = $1`, [t.trackerId]);
    expect(new Date(row.observed_at)).toEqual(minutes(1)); // the host was last polled in full by the scan, not the re-probe
    expect(row.coverage.ports).toEqual(RANGE);
    // The next full scan: nothing more to report (udp/40003 was a blip); a port closing is re-probed too.
    await t.scan(minutes(2), [['tcp', 40002]]);
    expect(await t.events()).toEqual(['added tcp/40002']);
    const second = (await t.reprobes())[1];
    expect(second.probe.ports).toEqual({ tcp: [{ from: 40001, to: 40001 }], udp: [] });
    await t.scan(minutes(2.5), [], second.probe.ports, second.id);
    expect(await t.events()).toEqual(['added tcp/40002', 'removed tcp/40001']);
  });

  it('re-probe after confirmations: seen in 2 full scans, then re-probed; a re-probe that finds its host down is tried again, at most 3 times', async () => {
    const t = await tracker({ reprobe: true, confirmations: 2 });
    await t.scan(minutes(0), [['tcp', 40001]]);
    await t.scan(minutes(1), [['tcp', 40001], ['tcp', 40007]]);
    expect(await t.reprobes()).toEqual([]); // one sighting of 2: no re-probe yet
    await t.scan(minutes(2), [['tcp', 40001], ['tcp', 40007]]);
    const [first] = await t.reprobes();
    expect(first.probe).toMatchObject({ items: ['127.0.0.51 tcp/40007'], attempt: 1 });
    expect(await t.events()).toEqual([]);
    // The host is down for the re-probe: asked again, twice more, then left to the next full scan.
    await t.scan(minutes(2.1), [], first.probe.ports, first.id, 'down');
    const [, second] = await t.reprobes();
    expect(second.probe).toMatchObject({ items: ['127.0.0.51 tcp/40007'], attempt: 2 });
    await t.scan(minutes(2.2), [], second.probe.ports, second.id, 'down');
    const third = (await t.reprobes())[2];
    expect(third.probe.attempt).toBe(3);
    await t.scan(minutes(2.3), [], third.probe.ports, third.id, 'down');
    expect(await t.reprobes()).toHaveLength(3);
    expect(await t.events()).toEqual([]);
    // The next full scan sees it a third time: reported, dated from its first sighting.
    await t.scan(minutes(3), [['tcp', 40001], ['tcp', 40007]]);
    expect(await t.events()).toEqual(['added tcp/40007']);
    const [added] = await db.query(`SELECT observed_at FROM events WHERE tracker_id = $1 AND kind = 'added'`, [t.trackerId]);
    expect(new Date(added.observed_at)).toEqual(minutes(1));
  });

  it('confirmation 2: a port open in one scan only is never reported; one open in two in a row is, once', async () => {
    const t = await tracker({ confirmations: 2 });
    await t.scan(minutes(0), [['tcp', 40001]]);
    await t.scan(minutes(1), [['tcp', 40001], ['tcp', 40002]]); // 40002 appears...
    await t.scan(minutes(2), [['tcp', 40001]]); // ...and is gone: a blip
    expect(await t.events()).toEqual([]);
    expect(await t.baseline()).toEqual(['tcp/40001']);
    await t.scan(minutes(3), [['tcp', 40001], ['tcp', 40003]]);
    expect(await t.events()).toEqual([]);
    expect(await t.baseline()).toEqual(['tcp/40001']); // not confirmed: the baseline waits
    await t.scan(minutes(4), [['tcp', 40001], ['tcp', 40003]]);
    await t.scan(minutes(5), [['tcp', 40001], ['tcp', 40003]]);
    expect(await t.events()).toEqual(['added tcp/40003']);
    expect(await t.baseline()).toEqual(['tcp/40001', 'tcp/40003']);
    const [event] = await db.query(`SELECT observed_at FROM events WHERE tracker_id = $1 AND kind = 'added'`, [t.trackerId]);
    expect(new Date(event.observed_at)).toEqual(minutes(3)); // dated from its first sighting
  });

  it('a flapping port produces exactly one pair of flapping events, and is quiet in between', async () => {
    const t = await tracker({ flapping: { threshold: 3, windowSeconds: 600 } });
    await t.scan(minutes(0), [['tcp', 40001]]);
    for (let i = 1; i <= 8; i++) await t.scan(minutes(i), i % 2 ? [['tcp', 40001], ['tcp', 40005]] : [['tcp', 40001]]);
    // Quiet (40005 stays open) for longer than the window.
    for (let i = 9; i <= 21; i++) await t.scan(minutes(i), [['tcp', 40001], ['tcp', 40005]]);
    expect(await t.events()).toEqual(['added tcp/40005', 'removed tcp/40005', 'added tcp/40005', 'flapping-started tcp/40005', 'flapping-stopped tcp/40005']);
    expect(await t.baseline()).toEqual(['tcp/40001', 'tcp/40005']); // the baseline followed the port all along
    const [stopped] = await db.query(`SELECT after FROM events WHERE tracker_id = $1 AND kind = 'flapping-stopped'`, [t.trackerId]);
    expect(stopped.after).toMatchObject({ protocol: 'tcp', port: 40005, state: 'open' }); // the state it settled in
    await t.scan(minutes(22), [['tcp', 40001]]);
    expect((await t.events()).slice(-1)).toEqual(['removed tcp/40005']); // reported again once it settled
  });

  it('a tracker port spec change brings in and takes out ports with no added or removed event', async () => {
    const t = await tracker();
    await t.scan(minutes(0), [['tcp', 40010], ['tcp', 40060]]);
    const wider: PortSpec = { tcp: [{ from: 40050, to: 40200 }], udp: [] };
    await db.query(`UPDATE trackers SET port_set = $2 WHERE id = $1`, [t.trackerId, JSON.stringify(wider)]);
    await t.scan(minutes(1), [['tcp', 40060], ['tcp', 40150]], wider);
    expect(await t.events()).toEqual([]);
    expect(await t.baseline()).toEqual(['tcp/40060', 'tcp/40150']);
    // Changes inside the new range are changes again.
    await t.scan(minutes(2), [['tcp', 40060], ['tcp', 40151]], wider);
    expect(await t.events()).toEqual(['added tcp/40151', 'removed tcp/40150']);
  });

  it('UDP open|filtered: ignore neither adds nor removes; open counts it as open', async () => {
    const ignoring = await tracker({ udp: 'ignore' });
    await ignoring.scan(minutes(0), [['udp', 40053]]);
    await ignoring.scan(minutes(1), [['udp', 40053, 'open|filtered'], ['udp', 40054, 'open|filtered']]);
    expect(await ignoring.events()).toEqual([]);
    expect(await ignoring.baseline()).toEqual(['udp/40053']);
    await ignoring.scan(minutes(2), []);
    expect(await ignoring.events()).toEqual(['removed udp/40053']);

    const open = await tracker({ udp: 'open' });
    await open.scan(minutes(0), []);
    await open.scan(minutes(1), [['udp', 40054, 'open|filtered']]);
    expect(await open.events()).toEqual(['added udp/40054']);

    const closed = await tracker();
    await closed.scan(minutes(0), [['udp', 40053]]);
    await closed.scan(minutes(1), [['udp', 40053, 'open|filtered']]);
    expect(await closed.events()).toEqual(['removed udp/40053']);
  });
});
