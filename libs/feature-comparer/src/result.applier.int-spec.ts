import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { loadPlatformConfig } from '@portolan/config';
import { ScanCompleted } from '@portolan/contracts';
import { createTestDatabase, ScanChunkEntity } from '@portolan/persistence';
import { CHUNK_TIMED_OUT, DATA_SOURCE, PlatformModule, ScanJobLedger } from '@portolan/platform';
import { ComparerModule } from './comparer.module';
import { ResultApplier } from './result.applier';

/** The comparer against the real Postgres: idempotency, coverage and host-down semantics. */
describe('ResultApplier (Postgres)', () => {
  let app: INestApplicationContext;
  let db: DataSource;
  let applier: ResultApplier;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase('portolan_comparer');
    drop = database.drop;
    const config = loadPlatformConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
    @Module({ imports: [PlatformModule.forRoot({ service: 'comparer-test', version: 'test', config }), ComparerModule] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    db = app.get(DATA_SOURCE);
    applier = app.get(ResultApplier);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  /** A device over 127.0.0.31-33, a tracker on 40000-40100, and a job of `chunks` chunks. */
  async function fixture(chunks = 1) {
    const [device] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('d', 'network', '127.0.0.31-33', '127.0.0.31-33', 3) RETURNING id`);
    const [tracker] = await db.query(
      `INSERT INTO trackers (name, device_id, type, mode, port_rules, port_set, schedule, send_baseline_events, tcp_technique)
       VALUES ('t', $1, 'network-port', 'network', '[]', '{"tcp":[{"from":40000,"to":40100}],"udp":[]}', '{"kind":"once"}', false, 'auto') RETURNING id`,
      [device.id],
    );
    return { deviceId: device.id as string, trackerId: tracker.id as string, job: () => job(device.id, tracker.id, chunks) };
  }

  async function job(deviceId: string, trackerId: string, chunks: number) {
    const jobId = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count, hosts_planned) VALUES ($1, $2, $3, 'manual', 'queued', now(), $4, 3)`, [jobId, trackerId, deviceId, chunks]);
    const chunkIds: string[] = [];
    for (let i = 0; i < chunks; i += 1) {
      const id = randomUUID();
      chunkIds.push(id);
      await db.query(`INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline) VALUES ($1, $2, $3, '[]', 1, 101, 'queued', now(), now() + interval '1 hour')`, [id, jobId, i]);
    }
    return { jobId, chunkIds };
  }

  function result(ids: { deviceId: string; trackerId: string }, jobId: string, chunkId: string, hosts: [string, 'up' | 'down', number[]][], startedAt = new Date()): ScanCompleted {
    return {
      jobId,
      chunkId,
      trackerId: ids.trackerId,
      deviceId: ids.deviceId,
      worker: 'w1',
      engine: 'nmap',
      engineVersion: '7.93',
      args: ['-sT'],
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(startedAt.getTime() + 100).toISOString(),
      durationMs: 100,
      coverage: { ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] } },
      hosts: hosts.map(([address, state, ports]) => ({ address, hostnames: [], state, ports: ports.map((port) => ({ protocol: 'tcp' as const, port, state: 'open' as const })) })),
    };
  }

  const changes = async (trackerId: string) =>
    ((await db.query(`SELECT kind, host, item_key FROM events WHERE tracker_id = $1 AND kind <> 'communications' ORDER BY kind, host, item_key`, [trackerId])) as { kind: string; host: string; item_key: string }[]).map(
      (e) => `${e.kind} ${e.host} ${e.item_key}`,
    );
  const ports = async (trackerId: string) =>
    ((await db.query(`SELECT host, item_key FROM current_items WHERE tracker_id = $1 ORDER BY host, item_key`, [trackerId])) as { host: string; item_key: string }[]).map((r) => `${r.host} ${r.item_key}`);

  it('baselines the first poll, then records differences; a redelivered result changes nothing twice', async () => {
    const ids = await fixture();
    const first = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, first.jobId, first.chunkIds[0], [['127.0.0.31', 'up', [40001, 40002]]]));
    expect(await changes(ids.trackerId)).toEqual([]);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40001', '127.0.0.31 tcp/40002']);

    const second = await ids.job();
    const messageId = randomUUID();
    const changed = result(ids, second.jobId, second.chunkIds[0], [['127.0.0.31', 'up', [40002, 40003]]]);
    await applier.applyCompleted(messageId, changed);
    await applier.applyCompleted(messageId, changed);
    expect(await changes(ids.trackerId)).toEqual(['added 127.0.0.31 tcp/40003', 'removed 127.0.0.31 tcp/40001']);
    const [jobRow] = await db.query(`SELECT status, duration_ms FROM scan_jobs WHERE id = $1`, [second.jobId]);
    expect(jobRow.status).toBe('succeeded');
    const comms = await db.query(`SELECT details FROM events WHERE job_id = $1 AND kind = 'communications'`, [second.jobId]);
    expect(comms).toHaveLength(1);
    expect(comms[0].details).toMatchObject({ what: 'scan-finished', durationMs: expect.any(Number) });
  });

  it('results arriving together are applied together: each tracker exactly as alone, a redelivery and an unknown chunk change nothing, a second result of one tracker waits its turn', async () => {
    const trackers = await Promise.all(Array.from({ length: 6 }, () => fixture()));
    const baselineJobs = await Promise.all(trackers.map((t) => t.job()));
    await Promise.all(trackers.map((t, i) => applier.applyCompleted(randomUUID(), result(t, baselineJobs[i].jobId, baselineJobs[i].chunkIds[0], [['127.0.0.31', 'up', [40001, 40002]]]))));
    const rescans = await Promise.all(trackers.map((t) => t.job()));
    const again = await trackers[0].job();
    const redelivered = randomUUID();
    const messages = [
      ...trackers.map((t, i) => ({ id: i === 1 ? redelivered : randomUUID(), result: result(t, rescans[i].jobId, rescans[i].chunkIds[0], [['127.0.0.31', 'up', [40002, 40000 + 10 + i]]]) })),
      { id: redelivered, result: result(trackers[1], rescans[1].jobId, rescans[1].chunkIds[0], [['127.0.0.31', 'up', [40002, 40011]]]) },
      { id: randomUUID(), result: result(trackers[2], rescans[2].jobId, randomUUID(), [['127.0.0.31', 'up', []]]) }, // an unknown chunk
      { id: randomUUID(), result: result(trackers[0], again.jobId, again.chunkIds[0], [['127.0.0.31', 'up', [40002, 40010, 40099]]], new Date(Date.now() + 1_000)) },
    ];
    const outcomes = await Promise.all(messages.map((m) => applier.applyCompleted(m.id, m.result)));
    expect(outcomes.every((o) => o.kind === 'ack')).toBe(true);
    expect(await changes(trackers[0].trackerId)).toEqual(['added 127.0.0.31 tcp/40010', 'added 127.0.0.31 tcp/40099', 'removed 127.0.0.31 tcp/40001']);
    for (let i = 1; i < trackers.length; i++) {
      expect(await changes(trackers[i].trackerId)).toEqual([`added 127.0.0.31 tcp/${40010 + i}`, 'removed 127.0.0.31 tcp/40001']);
      expect(await ports(trackers[i].trackerId)).toEqual(['127.0.0.31 tcp/40002', `127.0.0.31 tcp/${40010 + i}`]);
    }
    const jobs: { status: string }[] = await db.query(`SELECT status FROM scan_jobs WHERE id = ANY($1::uuid[])`, [[...rescans.map((r) => r.jobId), again.jobId]]);
    expect(jobs.map((j) => j.status)).toEqual(jobs.map(() => 'succeeded'));
    const comms: { n: number }[] = await db.query(`SELECT count(*)::int AS n FROM events WHERE job_id = ANY($1::uuid[]) AND kind = 'communications'`, [[...rescans.map((r) => r.jobId), again.jobId]]);
    expect(comms[0].n).toBe(7); // one scan-finished per job
    // The six rescans were written by one transaction (their rows carry its id).
    expect(await db.query(`SELECT DISTINCT xmin::text AS tx FROM scan_jobs WHERE id = ANY($1::uuid[])`, [rescans.map((r) => r.jobId)])).toHaveLength(1);
  });

  it('never turns a host that was down into closed ports', async () => {
    const ids = await fixture();
    const first = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, first.jobId, first.chunkIds[0], [['127.0.0.32', 'up', [40010]]]));
    const second = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, second.jobId, second.chunkIds[0], [['127.0.0.32', 'down', []]]));
    expect(await changes(ids.trackerId)).toEqual([]);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.32 tcp/40010']);
  });

  it('compares only ports inside the scanned ranges', async () => {
    const ids = await fixture();
    await db.query(
      `INSERT INTO baselines (tracker_id, host, device_id, baselined_at, observed_at, last_job_id) VALUES ($1, '127.0.0.33', $2, now() - interval '1 day', now() - interval '1 day', gen_random_uuid())`,
      [ids.trackerId, ids.deviceId],
    );
    await db.query(
      `INSERT INTO current_items (tracker_id, host, item_type, item_key, device_id, attributes, first_seen_at, last_seen_at, last_job_id)
       VALUES ($1, '127.0.0.33', 'port', 'tcp/22', $2, '{"protocol":"tcp","port":22,"state":"open"}', now(), now(), gen_random_uuid())`,
      [ids.trackerId, ids.deviceId],
    );
    const run = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, run.jobId, run.chunkIds[0], [['127.0.0.33', 'up', [40020]]]));
    expect(await changes(ids.trackerId)).toEqual(['added 127.0.0.33 tcp/40020']);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.33 tcp/22', '127.0.0.33 tcp/40020']);
  });

  it('compares items of other types (configuration lines) as ports, only when the result read them in full', async () => {
    const ids = await fixture();
    const collected = (jobId: string, chunkId: string, lines: string[], itemTypes?: string[], startedAt = new Date()): ScanCompleted => ({
      ...result(ids, jobId, chunkId, [['127.0.0.31', 'up', [40022]]], startedAt),
      engine: 'ssh',
      coverage: { ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] }, itemTypes },
      hosts: [
        {
          address: '127.0.0.31',
          hostnames: [],
          state: 'up',
          ports: [{ protocol: 'tcp', port: 40022, state: 'open' }],
          items: lines.map((line) => ({ type: 'config-line', key: `line vty 0 4 :: ${line}`, attributes: { section: 'line vty 0 4', line } })),
        },
      ],
    });
    const at = Date.now();
    const first = await ids.job();
    await applier.applyCompleted(randomUUID(), collected(first.jobId, first.chunkIds[0], ['login local'], ['config-line'], new Date(at)));
    const second = await ids.job();
    await applier.applyCompleted(randomUUID(), collected(second.jobId, second.chunkIds[0], ['login local', 'transport input telnet'], ['config-line'], new Date(at + 1000)));
    expect(await changes(ids.trackerId)).toEqual(['added 127.0.0.31 line vty 0 4 :: transport input telnet']);
    // A result that did not read the configuration (ports only) removes no configuration line.
    const third = await ids.job();
    await applier.applyCompleted(randomUUID(), collected(third.jobId, third.chunkIds[0], [], undefined, new Date(at + 2000)));
    expect(await changes(ids.trackerId)).toEqual(['added 127.0.0.31 line vty 0 4 :: transport input telnet']);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 line vty 0 4 :: login local', '127.0.0.31 line vty 0 4 :: transport input telnet', '127.0.0.31 tcp/40022']);
  });

  it('finishes a job with a failed chunk as partial, and the failed chunk closes nothing', async () => {
    const ids = await fixture(2);
    const first = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, first.jobId, first.chunkIds[0], [['127.0.0.31', 'up', [40001]]]));
    await applier.applyCompleted(randomUUID(), result(ids, first.jobId, first.chunkIds[1], [['127.0.0.32', 'up', [40002]]]));
    const second = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, second.jobId, second.chunkIds[0], [['127.0.0.31', 'up', [40001]]]));
    await applier.applyFailed(randomUUID(), {
      jobId: second.jobId,
      chunkId: second.chunkIds[1],
      trackerId: ids.trackerId,
      deviceId: ids.deviceId,
      worker: 'w2',
      failedAt: new Date().toISOString(),
      error: { code: 'timeout', message: 'nmap scan did not finish within 1000 ms and was stopped' },
    });
    const [jobRow] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [second.jobId]);
    expect(jobRow).toMatchObject({ status: 'partial', error: expect.stringMatching(/chunk 2\/2: nmap scan did not finish/) });
    expect(await changes(ids.trackerId)).toEqual([]);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40001', '127.0.0.32 tcp/40002']);
  });

  it('settles a chunk whose result came in several parts only when every part has arrived', async () => {
    const ids = await fixture();
    const run = await ids.job();
    const scanId = randomUUID();
    const whole = result(ids, run.jobId, run.chunkIds[0], [['127.0.0.31', 'up', [40001]], ['127.0.0.32', 'up', [40002]], ['127.0.0.33', 'down', []]]);
    const part = (index: number, hosts: typeof whole.hosts): ScanCompleted => ({ ...whole, hosts, scanId, part: { index, count: 2 } });
    const chunkStatus = async () => (await db.query(`SELECT status FROM scan_chunks WHERE id = $1`, [run.chunkIds[0]]))[0].status;

    await applier.applyCompleted(randomUUID(), part(0, whole.hosts.slice(0, 1)));
    await applier.applyCompleted(randomUUID(), part(0, whole.hosts.slice(0, 1))); // the same part published twice
    expect(await chunkStatus()).toBe('running');
    await applier.applyCompleted(randomUUID(), part(1, whole.hosts.slice(1)));
    expect(await chunkStatus()).toBe('done');
    const [job] = await db.query(`SELECT status, hosts_up FROM scan_jobs WHERE id = $1`, [run.jobId]);
    expect(job).toEqual({ status: 'succeeded', hosts_up: 2 });
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40001', '127.0.0.32 tcp/40002']);
  });

  it('applies the result of a chunk the scheduler failed by its deadline when it comes after all, in parts, and finishes its job again with it; a chunk its worker failed stays failed', async () => {
    const ledger = app.get(ScanJobLedger);
    const ids = await fixture(3);
    const run = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, run.jobId, run.chunkIds[0], [['127.0.0.31', 'up', [40001]]]));
    // What the scheduler does at the deadlines of chunks 3, then 2, while the comparer is stopped, their results waiting on the stream.
    for (const index of [2, 1]) {
      await db.transaction(async (manager) => {
        const job = (await ledger.lockJob(manager, run.jobId))!;
        const chunk = await manager.findOneByOrFail(ScanChunkEntity, { id: run.chunkIds[index] });
        await ledger.settleChunk(manager, job, chunk, { finishedAt: new Date(), error: `${CHUNK_TIMED_OUT}worker w${index} did not finish the chunk before its deadline`, timedOut: true });
        await ledger.finishIfComplete(manager, job, new Date());
      });
    }
    const jobState = async () => (await db.query(`SELECT status, error, chunks_done, chunks_failed, hosts_up FROM scan_jobs WHERE id = $1`, [run.jobId]))[0];
    const chunkState = async (index: number) => (await db.query(`SELECT status, error, timed_out FROM scan_chunks WHERE id = $1`, [run.chunkIds[index]]))[0];
    const finishes = async () =>
      ((await db.query(`SELECT details FROM events WHERE job_id = $1 AND kind = 'communications' ORDER BY occurred_at, id`, [run.jobId])) as { details: { what: string; status: string; reopened?: boolean; previousStatus?: string } }[]).map(
        (e) => `${e.details.what} ${e.details.status}${e.details.reopened ? ` (was ${e.details.previousStatus})` : ''}`,
      );
    expect(await jobState()).toMatchObject({ status: 'partial', error: 'chunk 3/3: timed out: worker w2 did not finish the chunk before its deadline', chunks_done: 1, chunks_failed: 2 });
    expect(await finishes()).toEqual(['scan-finished partial']);

    // Chunk 3's result, in two parts: failed until its last part (its job still counts it failed).
    const scanId = randomUUID();
    const whole = result(ids, run.jobId, run.chunkIds[2], [['127.0.0.32', 'up', [40002]], ['127.0.0.33', 'up', [40003]]]);
    const part = (index: number): ScanCompleted => ({ ...whole, hosts: whole.hosts.slice(index, index + 1), scanId, part: { index, count: 2 } });
    await applier.applyCompleted(randomUUID(), part(0));
    expect(await chunkState(2)).toMatchObject({ status: 'failed', timed_out: true });
    expect(await jobState()).toMatchObject({ status: 'partial', chunks_failed: 2 });
    const last = randomUUID();
    await applier.applyCompleted(last, part(1));
    await applier.applyCompleted(last, part(1)); // redelivered: nothing twice
    expect(await chunkState(2)).toEqual({ status: 'done', error: null, timed_out: false });
    // The job's error passes to the chunk that failed next: still partial.
    expect(await jobState()).toEqual({ status: 'partial', error: 'chunk 2/3: timed out: worker w1 did not finish the chunk before its deadline', chunks_done: 2, chunks_failed: 1, hosts_up: 3 });
    // Then chunk 2's: all done.
    await applier.applyCompleted(randomUUID(), result(ids, run.jobId, run.chunkIds[1], [['127.0.0.34', 'up', [40004]]]));
    expect(await jobState()).toEqual({ status: 'succeeded', error: null, chunks_done: 3, chunks_failed: 0, hosts_up: 4 });
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40001', '127.0.0.32 tcp/40002', '127.0.0.33 tcp/40003', '127.0.0.34 tcp/40004']);
    expect(await finishes()).toEqual(['scan-finished partial', 'scan-finished partial (was partial)', 'scan-finished succeeded (was partial)']);

    // A chunk its worker reported failed is not taken back by a result, however its error is worded: the failure stands.
    const failed = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, failed.jobId, failed.chunkIds[0], [['127.0.0.31', 'up', [40001]]]));
    await applier.applyFailed(randomUUID(), { jobId: failed.jobId, chunkId: failed.chunkIds[1], trackerId: ids.trackerId, deviceId: ids.deviceId, worker: 'w2', failedAt: new Date().toISOString(), error: { code: 'timeout', message: 'timed out: nmap did not finish' } });
    await applier.applyCompleted(randomUUID(), result(ids, failed.jobId, failed.chunkIds[1], [['127.0.0.32', 'up', [40009]]]));
    expect((await db.query(`SELECT chunks_failed FROM scan_jobs WHERE id = $1`, [failed.jobId]))[0].chunks_failed).toBe(1);
    expect(await ports(ids.trackerId)).not.toContain('127.0.0.32 tcp/40009');
  });

  it('applies the results of paced chunks scanned without their pace, and says so once a job and worker; a paced result, alone or with others, says nothing', async () => {
    const paceEvents = async (jobIds: string[]) =>
      ((await db.query(`SELECT job_id, details FROM events WHERE job_id = ANY($1::uuid[]) AND details->>'what' = 'scan-pace-ignored' ORDER BY details->>'worker'`, [jobIds])) as { job_id: string; details: Record<string, unknown> }[]);
    const pace = (chunkIds: string[], maxRate: number) => db.query(`UPDATE scan_chunks SET request = jsonb_build_object('maxRate', $2::float8) WHERE id = ANY($1::uuid[])`, [chunkIds, maxRate]);
    const ids = await fixture(3);
    const older = await ids.job();
    await pace(older.chunkIds, 20);
    // Worker w1 (older than the pace) scans chunks 1 and 2, the second's result in two parts; w3 scans chunk 3.
    await applier.applyCompleted(randomUUID(), result(ids, older.jobId, older.chunkIds[0], [['127.0.0.31', 'up', [40005]]]));
    const whole = result(ids, older.jobId, older.chunkIds[1], [['127.0.0.32', 'up', [40006]], ['127.0.0.33', 'up', []]]);
    const scanId = randomUUID();
    for (const index of [0, 1]) await applier.applyCompleted(randomUUID(), { ...whole, hosts: whole.hosts.slice(index, index + 1), scanId, part: { index, count: 2 } });
    await applier.applyCompleted(randomUUID(), { ...result(ids, older.jobId, older.chunkIds[2], [['127.0.0.34', 'up', []]]), worker: 'w3', args: ['-sT', '--max-rate', '200'] });
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40005', '127.0.0.32 tcp/40006']);
    expect(await paceEvents([older.jobId])).toEqual([
      { job_id: older.jobId, details: expect.objectContaining({ what: 'scan-pace-ignored', maxRate: 20, applied: null, worker: 'w1', engineVersion: '7.93', chunk: 1, chunks: 3, reason: expect.stringMatching(/^worker w1 scanned chunk 1\/3 without the tracker's pace/) }) },
      { job_id: older.jobId, details: expect.objectContaining({ worker: 'w3', applied: '200', chunk: 3 }) },
    ]);

    // Paced and unpaced results arriving together (one transaction): only the unpaced one says so.
    const trackers = await Promise.all(Array.from({ length: 3 }, () => fixture()));
    const jobs = await Promise.all(trackers.map((t) => t.job()));
    await pace(jobs.flatMap((j) => j.chunkIds), 0.5);
    await Promise.all(
      trackers.map((t, i) => {
        const r = result(t, jobs[i].jobId, jobs[i].chunkIds[0], [['127.0.0.31', 'up', [40001]]]);
        return applier.applyCompleted(randomUUID(), i === 1 ? r : { ...r, args: ['-sT', '--max-rate', '0.5', '127.0.0.31'] });
      }),
    );
    expect((await paceEvents(jobs.map((j) => j.jobId))).map((e) => e.job_id)).toEqual([jobs[1].jobId]);
    expect(await db.query(`SELECT status FROM scan_jobs WHERE id = ANY($1::uuid[])`, [jobs.map((j) => j.jobId)])).toEqual(jobs.map(() => ({ status: 'succeeded' })));
  });

  it('ignores a result older than the one already applied', async () => {
    const ids = await fixture();
    const newer = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, newer.jobId, newer.chunkIds[0], [['127.0.0.31', 'up', [40005]]]));
    const older = await ids.job();
    await applier.applyCompleted(randomUUID(), result(ids, older.jobId, older.chunkIds[0], [['127.0.0.31', 'up', []]], new Date(Date.now() - 3_600_000)));
    expect(await changes(ids.trackerId)).toEqual([]);
    expect(await ports(ids.trackerId)).toEqual(['127.0.0.31 tcp/40005']);
  });
});
