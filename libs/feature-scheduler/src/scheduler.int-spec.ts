import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { Bus, JetStreamBus, Outcomes } from '@portolan/bus';
import { loadPlatformConfig, PlatformConfig } from '@portolan/config';
import { Messages, RunRequested, ScanRequested, WorkerPresence } from '@portolan/contracts';
import { createTestDatabase, insertTestAgent, ScanChunkEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, PLATFORM_CONFIG, PlatformModule, ScanJobLedger } from '@portolan/platform';
import { ChunkDispatcher } from './chunk.dispatcher';
import { LeaderLease } from './leader.lease';
import { QueueWatch } from './queue.watch';
import { ProgressTracker } from './progress.tracker';
import { RunPlanner } from './run.planner';
import { SchedulerLoop } from './scheduler.loop';
import { SchedulerModule } from './scheduler.module';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';
import { WorkerRegistry } from './worker.registry';

/** The scheduler against the real Postgres, with the in-process bus. */
describe('scheduler (Postgres)', () => {
  let app: INestApplicationContext;
  let db: DataSource;
  let bus: Bus;
  let drop: () => Promise<void>;
  const scanJobs: ScanRequested[] = [];
  /** The chunks that came as version 2 of the request: the paced ones, for the workers that keep to their pace. */
  const pacedScanJobs: ScanRequested[] = [];
  const runRequests: RunRequested[] = [];

  beforeAll(async () => {
    const database = await createTestDatabase('portolan_scheduler');
    drop = database.drop;
    process.env['SCHEDULER_CHUNK_MAX_HOSTS'] = '2';
    process.env['SCHEDULER_TICK_MS'] = '3600000';
    const config = loadPlatformConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
    @Module({ imports: [PlatformModule.forRoot({ service: 'scheduler-test', version: 'test', config }), SchedulerModule] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    db = app.get(DATA_SOURCE);
    bus = app.get(BUS);
    await bus.consume({ message: Messages.scanRequested, durable: 'test-scanner', route: 'branch-1' }, async (d) => (scanJobs.push(d.envelope.payload), Outcomes.ack()));
    await bus.consume({ message: Messages.scanRequestedV2, durable: 'test-scanner-v2', route: 'branch-1' }, async (d) => (pacedScanJobs.push(d.envelope.payload), Outcomes.ack()));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await drop?.();
  });

  async function tracker(address: string, site?: string, nextRunAt: Date | null = null) {
    const [siteRow] = site ? await db.query(`INSERT INTO sites (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, [site]) : [{ id: null }];
    const [device] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count, site_id) VALUES ('d', 'network', $1, $1, 5, $2) RETURNING id`, [address, siteRow.id]);
    const [row] = await db.query(
      `INSERT INTO trackers (name, device_id, type, mode, port_rules, port_set, schedule, send_baseline_events, tcp_technique, next_run_at)
       VALUES ('t', $1, 'network-port', 'network', '[]', '{"tcp":[{"from":40000,"to":40009}],"udp":[]}', '{"kind":"interval","every":"1h"}', false, 'auto', $2) RETURNING id`,
      [device.id, nextRunAt],
    );
    return { trackerId: row.id as string, deviceId: device.id as string };
  }

  async function pendingJob(ids: { trackerId: string; deviceId: string }) {
    const jobId = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at) VALUES ($1, $2, $3, 'manual', 'pending', now())`, [jobId, ids.trackerId, ids.deviceId]);
    return jobId;
  }

  /** A run of a new tracker, planned; paced (`maxRate`), its chunks are held for their turn, the first released. */
  async function plannedRun(address: string, site: string, maxRate: number | null) {
    const ids = await tracker(address, site);
    await db.query('UPDATE trackers SET max_rate = $2 WHERE id = $1', [ids.trackerId, maxRate]);
    const jobId = await pendingJob(ids);
    await app.get(RunPlanner).plan({ jobId, trackerId: ids.trackerId, trigger: 'manual', requestedAt: new Date().toISOString() });
    return jobId;
  }

  /** A run of a tracker paced at 5 probes a second, planned. */
  const plannedPacedRun = (address: string, site = 'branch-1') => plannedRun(address, site, 5);

  /** The run's chunks in order: their status, and whether held. */
  async function chunkStates(jobId: string): Promise<string[]> {
    const chunks: { status: string; held: boolean }[] = await db.query(`SELECT status, held FROM scan_chunks WHERE job_id = $1 ORDER BY chunk_index`, [jobId]);
    return chunks.map((c) => `${c.status}${c.held ? ' held' : ''}`);
  }

  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 100 && !condition(); i += 1) await new Promise((r) => setTimeout(r, 20));
  };

  it('splits a network scan into chunks published to the site subject, once per job', async () => {
    const ids = await tracker('127.0.0.1-5', 'branch-1');
    const jobId = await pendingJob(ids);
    const request = { jobId, trackerId: ids.trackerId, trigger: 'manual' as const, requestedAt: new Date().toISOString() };
    await app.get(RunPlanner).plan(request);
    await app.get(RunPlanner).plan(request);
    await until(() => scanJobs.filter((j) => j.jobId === jobId).length >= 3);
    const mine = scanJobs.filter((j) => j.jobId === jobId).sort((a, b) => a.chunkIndex - b.chunkIndex);
    expect(mine.map((j) => j.targets)).toEqual([['127.0.0.1-2'], ['127.0.0.3-4'], ['127.0.0.5']]);
    expect(mine.every((j) => j.site === 'branch-1' && j.chunkCount === 3)).toBe(true);
    const [job] = await db.query(`SELECT status, chunk_count, hosts_planned, probes_planned, site FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toEqual({ status: 'queued', chunk_count: 3, hosts_planned: 5, probes_planned: 50, site: 'branch-1' });
  });

  it("gives a paced tracker's chunks its rate and the time their probes need at it on top of their usual timeout, as version 2 alone, one chunk at a time", async () => {
    const plan = async (maxRate: number | null) => {
      const ids = await tracker('127.0.0.1-3', 'branch-1');
      await db.query('UPDATE trackers SET max_rate = $2 WHERE id = $1', [ids.trackerId, maxRate]);
      const jobId = await pendingJob(ids);
      await app.get(RunPlanner).plan({ jobId, trackerId: ids.trackerId, trigger: 'manual', requestedAt: new Date().toISOString() });
      return jobId;
    };
    const delivered = (jobId: string) => [...scanJobs, ...pacedScanJobs].filter((j) => j.jobId === jobId).sort((a, b) => a.chunkIndex - b.chunkIndex);
    const [pacedJob, unpacedJob] = [await plan(2.5), await plan(null)];
    await until(() => delivered(pacedJob).length >= 1 && delivered(unpacedJob).length >= 2);
    await new Promise((r) => setTimeout(r, 100)); // a stray copy, or the paced run's second chunk, would have come by now
    // The paced run's second chunk waits, held, for the first: the run never sends more than its pace.
    expect(delivered(pacedJob).map((j) => j.chunkIndex)).toEqual([0]);
    const chunks = async (jobId: string) => db.query(`SELECT chunk_index, held, published_at IS NOT NULL AS published, deadline FROM scan_chunks WHERE job_id = $1 ORDER BY chunk_index`, [jobId]);
    expect((await chunks(pacedJob)).map((c: { held: boolean; published: boolean }) => [c.held, c.published])).toEqual([[false, true], [true, false]]);
    expect((await chunks(unpacedJob)).map((c: { held: boolean }) => c.held)).toEqual([false, false]);
    const dispatcher = app.get(ChunkDispatcher);
    // Not while the first is queued or running, nor as a lost publish.
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(0);
    await db.query(`UPDATE scan_chunks SET status = 'running' WHERE job_id = $1 AND chunk_index = 0`, [pacedJob]);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(0);
    expect(await dispatcher.dispatchUnpublished(new Date(Date.now() + 60_000))).toBe(0);
    expect(delivered(pacedJob)).toHaveLength(1);

    // Once the first is settled, the next tick publishes the second, its queue timeout counted from then.
    await db.query(`UPDATE scan_chunks SET status = 'done' WHERE job_id = $1 AND chunk_index = 0`, [pacedJob]);
    const releasedAt = new Date(Date.now() + 5 * 60_000);
    expect(await dispatcher.releasePacedTurns(releasedAt)).toBe(1);
    expect(await dispatcher.releasePacedTurns(releasedAt)).toBe(0);
    await until(() => delivered(pacedJob).length >= 2);
    const paced = delivered(pacedJob);
    const unpaced = delivered(unpacedJob);
    const queueTimeoutMs = app.get<SchedulerConfig>(SCHEDULER_CONFIG).chunkQueueTimeoutMs;
    expect(paced[1].deadline).toBe(new Date(releasedAt.getTime() + queueTimeoutMs).toISOString());
    const [, second] = await chunks(pacedJob);
    expect(second).toMatchObject({ held: false, published: true, deadline: new Date(releasedAt.getTime() + queueTimeoutMs) });

    // A worker from before the pace consumes version 1 only: it never sees a paced chunk.
    expect(pacedScanJobs.filter((j) => j.jobId === pacedJob)).toHaveLength(2);
    expect(scanJobs.some((j) => j.jobId === pacedJob)).toBe(false);
    expect(scanJobs.filter((j) => j.jobId === unpacedJob)).toHaveLength(2);
    expect(pacedScanJobs.some((j) => j.jobId === unpacedJob)).toBe(false);
    expect(paced.map((j) => j.maxRate)).toEqual([2.5, 2.5]);
    expect(unpaced.map((j) => 'maxRate' in j)).toEqual([false, false]);
    // Chunks of 2 and 1 hosts, 10 ports each, 4 discovery probes a host, each sent up to 3 times, 2.5 a second.
    expect(paced.map((j, i) => j.timeoutMs - unpaced[i].timeoutMs)).toEqual([33_600, 16_800]);
  });

  it("scans a run's held chunks at their tracker's pace as of their release: a new pace applies to them, a cleared one releases them all at once, unpaced", async () => {
    const ids = await tracker('127.0.0.1-7', 'branch-1');
    await db.query('UPDATE trackers SET max_rate = 5 WHERE id = $1', [ids.trackerId]);
    const jobId = await pendingJob(ids);
    await app.get(RunPlanner).plan({ jobId, trackerId: ids.trackerId, trigger: 'manual', requestedAt: new Date().toISOString() });
    const delivered = () => [...scanJobs, ...pacedScanJobs].filter((j) => j.jobId === jobId).sort((a, b) => a.chunkIndex - b.chunkIndex);
    const dispatcher = app.get(ChunkDispatcher);
    await until(() => delivered().length >= 1);
    // Sped up while the first chunk runs (as PATCH /trackers/:id writes it): the chunks still held take the new pace, and the timeout it needs.
    await db.query('UPDATE trackers SET max_rate = 50 WHERE id = $1', [ids.trackerId]);
    await db.query(`UPDATE scan_chunks SET status = 'done' WHERE job_id = $1 AND chunk_index = 0`, [jobId]);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    await until(() => delivered().length >= 2);
    const [first, second] = delivered();
    expect([first.maxRate, second.maxRate]).toEqual([5, 50]);
    // Chunks of 2 hosts, 10 ports each, 4 discovery probes a host, each sent up to 3 times: 16.8 s at 5 a second, 1.68 s at 50.
    expect(first.timeoutMs - second.timeoutMs).toBe(16_800 - 1_680);
    const [stored] = await db.query(`SELECT request FROM scan_chunks WHERE job_id = $1 AND chunk_index = 1`, [jobId]);
    expect(stored.request).toMatchObject({ maxRate: 50, timeoutMs: second.timeoutMs });

    // The pace cleared while the second runs: the rest are released at once, unpaced, for any worker (version 1).
    await db.query('UPDATE trackers SET max_rate = NULL WHERE id = $1', [ids.trackerId]);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(2);
    expect(await chunkStates(jobId)).toEqual(['done', 'queued', 'queued', 'queued']);
    await until(() => delivered().length >= 4);
    const rest = delivered().slice(2);
    expect(rest.map((j) => [j.chunkIndex, 'maxRate' in j, scanJobs.includes(j)])).toEqual([
      [2, false, true],
      [3, false, true],
    ]);
    expect(first.timeoutMs - rest[0].timeoutMs).toBe(16_800);
  });

  it("scans a paced tracker's runs one after another, oldest first: a second run waits for the first's chunks", async () => {
    const ids = await tracker('127.0.0.1-3', 'branch-1');
    await db.query('UPDATE trackers SET max_rate = 5 WHERE id = $1', [ids.trackerId]);
    const [first, second] = [await pendingJob(ids), await pendingJob(ids)];
    for (const jobId of [first, second]) await app.get(RunPlanner).plan({ jobId, trackerId: ids.trackerId, trigger: 'manual', requestedAt: new Date().toISOString() });
    const run = (jobId: string) => (jobId === first ? 'first' : 'second');
    const released = async () =>
      (await db.query(`SELECT job_id, chunk_index FROM scan_chunks WHERE job_id = ANY($1) AND NOT held ORDER BY published_at, chunk_index`, [[first, second]])).map(
        (c: { job_id: string; chunk_index: number }) => `${run(c.job_id)} ${c.chunk_index}`,
      );
    expect(await released()).toEqual(['first 0']);
    const settle = (jobId: string, index: number) => db.query(`UPDATE scan_chunks SET status = 'done' WHERE job_id = $1 AND chunk_index = $2`, [jobId, index]);
    const dispatcher = app.get(ChunkDispatcher);
    await settle(first, 0);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    expect(await released()).toEqual(['first 0', 'first 1']);
    await settle(first, 1);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(0);
    expect(await released()).toEqual(['first 0', 'first 1', 'second 0']);
    await until(() => pacedScanJobs.filter((j) => j.jobId === second).length >= 1);
    expect(pacedScanJobs.filter((j) => j.jobId === first || j.jobId === second).map((j) => `${run(j.jobId)} ${j.chunkIndex}`)).toEqual(['first 0', 'first 1', 'second 0']);
  });

  it("scans a paced tracker's re-probe before the rest of its open run: the change it confirms waits for one chunk, not the run", async () => {
    const ids = await tracker('127.0.0.1-5', 'branch-1');
    await db.query('UPDATE trackers SET max_rate = 5 WHERE id = $1', [ids.trackerId]);
    const run = await pendingJob(ids);
    await app.get(RunPlanner).plan({ jobId: run, trackerId: ids.trackerId, trigger: 'schedule', requestedAt: new Date().toISOString() });
    // The first chunk (127.0.0.1-2) found a change on 127.0.0.2: the comparer asks for a re-probe of its port, as requestReprobe writes it.
    const reprobe = randomUUID();
    const probe = { hosts: ['127.0.0.2'], ports: { tcp: [{ from: 40003, to: 40003 }], udp: [] }, items: ['127.0.0.2 tcp/40003'], attempt: 1 };
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, probe) VALUES ($1, $2, $3, 'reprobe', 'pending', now(), $4)`, [reprobe, ids.trackerId, ids.deviceId, JSON.stringify(probe)]);
    await app.get(RunPlanner).plan({ jobId: reprobe, trackerId: ids.trackerId, trigger: 'reprobe', requestedAt: new Date().toISOString() });
    const name = (jobId: string) => (jobId === run ? 'run' : 'reprobe');
    const released = async () =>
      (await db.query(`SELECT job_id, chunk_index FROM scan_chunks WHERE job_id = ANY($1) AND NOT held ORDER BY published_at, job_id = $2 DESC, chunk_index`, [[run, reprobe], run])).map(
        (c: { job_id: string; chunk_index: number }) => `${name(c.job_id)} ${c.chunk_index}`,
      );
    // Held while the run's first chunk is under way: the tracker's pace holds for its re-probes too.
    expect(await released()).toEqual(['run 0']);
    expect(await chunkStates(reprobe)).toEqual(['queued held']);
    const settle = (jobId: string, index: number) => db.query(`UPDATE scan_chunks SET status = 'done' WHERE job_id = $1 AND chunk_index = $2`, [jobId, index]);
    const dispatcher = app.get(ChunkDispatcher);
    await settle(run, 0);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    expect(await released()).toEqual(['run 0', 'reprobe 0']);
    await settle(reprobe, 0);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    await settle(run, 1);
    expect(await dispatcher.releasePacedTurns(new Date())).toBe(1);
    expect(await released()).toEqual(['run 0', 'reprobe 0', 'run 1', 'run 2']);
    await until(() => pacedScanJobs.filter((j) => j.jobId === reprobe).length >= 1);
    const [scan] = pacedScanJobs.filter((j) => j.jobId === reprobe);
    expect(scan).toMatchObject({ targets: ['127.0.0.2'], maxRate: 5 });
  });

  it("fails the chunks held behind a paced chunk no worker took within its queue timeout, and never times out a held chunk by itself", async () => {
    const jobId = await plannedPacedRun('127.0.0.1-5');
    const loop = app.get(SchedulerLoop);
    const state = () => chunkStates(jobId);
    // The first is being scanned: the held ones' stored deadlines do not time them out.
    await db.query(`UPDATE scan_chunks SET status = 'running', started_at = now(), deadline = now() + interval '1 hour' WHERE job_id = $1 AND chunk_index = 0`, [jobId]);
    await db.query(`UPDATE scan_chunks SET deadline = now() - interval '1 second' WHERE job_id = $1 AND held`, [jobId]);
    await loop.expireLostChunks(new Date());
    expect(await state()).toEqual(['running', 'queued held', 'queued held']);

    // The first done and the second released, no worker takes the second within its queue timeout: the third is not tried.
    await db.query(`UPDATE scan_chunks SET status = 'done' WHERE job_id = $1 AND chunk_index = 0`, [jobId]);
    await db.query(`UPDATE scan_jobs SET chunks_done = 1, status = 'running' WHERE id = $1`, [jobId]);
    expect(await app.get(ChunkDispatcher).releasePacedTurns(new Date())).toBe(1);
    await db.query(`UPDATE scan_chunks SET deadline = now() - interval '1 second' WHERE job_id = $1 AND chunk_index = 1`, [jobId]);
    await loop.expireLostChunks(new Date());
    expect(await state()).toEqual(['done', 'failed', 'failed']);
    const [third] = await db.query(`SELECT error, timed_out FROM scan_chunks WHERE job_id = $1 AND chunk_index = 2`, [jobId]);
    expect(third).toEqual({
      error: 'not started: chunk 2/3 of this paced run, scanned one chunk at a time, waited its whole queue timeout for a worker, so the chunks after it were not tried',
      timed_out: false,
    });
    const [job] = await db.query(`SELECT status, chunks_done, chunks_failed, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toMatchObject({ status: 'partial', chunks_done: 1, chunks_failed: 2, error: expect.stringMatching(/^chunk 2\/3: timed out: no scanner worker that paces its scans picked the chunk up/) });
    expect(await app.get(ChunkDispatcher).releasePacedTurns(new Date())).toBe(0);

    // A worker had taken the second after all (its word lost, or just then): its result, as the comparer applies it, puts the third back in its turn.
    const ledger = app.get(ScanJobLedger);
    await db.transaction(async (manager) => {
      const locked = (await ledger.lockJob(manager, jobId))!;
      const [second] = await manager.query(`SELECT id FROM scan_chunks WHERE job_id = $1 AND chunk_index = 1`, [jobId]);
      const chunk = (await manager.findOneBy(ScanChunkEntity, { id: second.id }))!;
      expect(await ledger.reopenTimedOut(manager, locked, chunk)).toEqual({ finishedAs: 'partial' });
      await ledger.settleChunk(manager, locked, chunk, { finishedAt: new Date(), hostsUp: 0 });
      await ledger.finishIfComplete(manager, locked, new Date());
    });
    expect(await state()).toEqual(['done', 'done', 'queued held']);
    const [reopened] = await db.query(`SELECT status, chunks_done, chunks_failed, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(reopened).toEqual({ status: 'running', chunks_done: 2, chunks_failed: 0, error: null });
    expect(await app.get(ChunkDispatcher).releasePacedTurns(new Date())).toBe(1);
  });

  it("cancels a job an operator stops: its chunks not done fail, held ones too, one timed out is no longer taken back; progress on one of them tells the workers again", async () => {
    const jobId = await plannedPacedRun('127.0.0.1-5');
    const ledger = app.get(ScanJobLedger);
    const chunkId = async (index: number) => (await db.query(`SELECT id FROM scan_chunks WHERE job_id = $1 AND chunk_index = $2`, [jobId, index]))[0].id as string;
    // The first timed out in the queue (the scheduler failed it, and the ones held behind it, which a late result would put back), the second was released again and is being scanned.
    await db.query(`UPDATE scan_chunks SET status = 'failed', timed_out = true, error = 'timed out: no worker', finished_at = now() WHERE id = $1`, [await chunkId(0)]);
    await db.query(`UPDATE scan_chunks SET held = false, status = 'running', started_at = now() WHERE id = $1`, [await chunkId(1)]);
    await db.query(`UPDATE scan_jobs SET status = 'running', chunks_failed = 1 WHERE id = $1`, [jobId]);
    const heard: { jobId: string; reason: string }[] = [];
    const subscription = await bus.subscribe(Messages.jobCancelled, (envelope) => void heard.push(envelope.payload));

    const { reason, events } = await db.transaction(async (manager) => ledger.cancelJob(manager, (await ledger.lockJob(manager, jobId))!, 'soc-1', 'wrong range', new Date()));
    expect(reason).toBe('cancelled by soc-1: wrong range');
    expect(await chunkStates(jobId)).toEqual(['failed', 'failed', 'failed']);
    const chunks = await db.query(`SELECT error, timed_out FROM scan_chunks WHERE job_id = $1 ORDER BY chunk_index`, [jobId]);
    expect(chunks).toEqual([
      { error: 'timed out: no worker', timed_out: true },
      { error: reason, timed_out: false },
      { error: reason, timed_out: false },
    ]);
    const [job] = await db.query(`SELECT status, chunks_failed, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toEqual({ status: 'failed', chunks_failed: 3, error: reason });
    expect((await db.query(`SELECT cancelled_at IS NOT NULL AS cancelled FROM scan_jobs WHERE id = $1`, [jobId]))[0]).toEqual({ cancelled: true });
    expect(events.map((e) => e.details)).toEqual([expect.objectContaining({ what: 'scan-failed', status: 'failed', reason })]);
    await db.transaction(async (manager) => {
      const locked = (await ledger.lockJob(manager, jobId))!;
      const first = (await manager.findOneBy(ScanChunkEntity, { id: await chunkId(0) }))!;
      // The first one timed out, but its late result is passed over: the job stays cancelled.
      expect(await ledger.reopenTimedOut(manager, locked, first)).toBe(false);
    });
    expect(await app.get(ChunkDispatcher).releasePacedTurns(new Date())).toBe(0);

    // The worker scanning the second missed the word: its next progress has the workers told again, and changes nothing.
    const now = new Date().toISOString();
    await app.get(ProgressTracker).record({ jobId, chunkId: await chunkId(1), worker: 'w', engine: 'nmap', percent: 40, hostsDone: 1, startedAt: now, at: now });
    await until(() => heard.length >= 1);
    expect(heard).toEqual([{ jobId, reason }]);
    expect(await chunkStates(jobId)).toEqual(['failed', 'failed', 'failed']);
    // A worker still scanning the first, which timed out before the cancel, is told too.
    await app.get(ProgressTracker).record({ jobId, chunkId: await chunkId(0), worker: 'w', engine: 'nmap', percent: 40, hostsDone: 1, startedAt: now, at: now });
    await until(() => heard.length >= 2);
    expect(heard).toEqual([{ jobId, reason }, { jobId, reason }]);

    // Cancelled with a chunk done: partial, the job's error saying it was cancelled, then what failed before.
    const partialJob = await plannedPacedRun('127.0.0.11-15');
    const chunkOf = async (index: number) => (await db.query(`SELECT id FROM scan_chunks WHERE job_id = $1 AND chunk_index = $2`, [partialJob, index]))[0].id as string;
    await db.transaction(async (manager) => {
      const locked = (await ledger.lockJob(manager, partialJob))!;
      const [first, second] = [(await manager.findOneBy(ScanChunkEntity, { id: await chunkOf(0) }))!, (await manager.findOneBy(ScanChunkEntity, { id: await chunkOf(1) }))!];
      await ledger.settleChunks(manager, [
        { job: locked, chunk: first, outcome: { finishedAt: new Date(), hostsUp: 1 } },
        { job: locked, chunk: second, outcome: { finishedAt: new Date(), error: 'nmap exited with code 1' } },
      ]);
    });
    const partial = await db.transaction(async (manager) => ledger.cancelJob(manager, (await ledger.lockJob(manager, partialJob))!, 'soc-1', 'wrong range', new Date()));
    expect(await chunkStates(partialJob)).toEqual(['done', 'failed', 'failed']);
    const [partialRow] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [partialJob]);
    expect(partialRow).toEqual({ status: 'partial', error: 'cancelled by soc-1: wrong range (before that, chunk 2/3: nmap exited with code 1)' });
    expect(partial.events.map((e) => e.details)).toEqual([expect.objectContaining({ what: 'scan-finished', status: 'partial', reason: partialRow.error })]);
    // Progress on a chunk of a job that failed for another reason says nothing.
    await db.query(`UPDATE scan_jobs SET error = 'chunk 2/3: nmap exited with code 1', cancelled_at = NULL WHERE id = $1`, [partialJob]);
    await app.get(ProgressTracker).record({ jobId: partialJob, chunkId: await chunkOf(2), worker: 'w', engine: 'nmap', percent: 40, hostsDone: 1, startedAt: now, at: now });
    await new Promise((r) => setTimeout(r, 50));
    expect(heard).toHaveLength(2);
    await subscription.stop();

    // A job not planned yet fails outright.
    const ids = await tracker('127.0.0.9', 'branch-1');
    const pending = await pendingJob(ids);
    const cancelled = await db.transaction(async (manager) => ledger.cancelJob(manager, (await ledger.lockJob(manager, pending))!, 'soc-1', undefined, new Date()));
    expect(cancelled.reason).toBe('cancelled by soc-1');
    const [notPlanned] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [pending]);
    expect(notPlanned).toEqual({ status: 'failed', error: 'cancelled by soc-1' });
  });

  it("cancels the held chunks of a paced tracker disabled meanwhile (the tracker's edit does, in its transaction); the chunk under way finishes", async () => {
    const jobId = await plannedPacedRun('127.0.0.1-5');
    const [{ tracker_id: trackerId }] = await db.query(`SELECT tracker_id FROM scan_jobs WHERE id = $1`, [jobId]);
    const ledger = app.get(ScanJobLedger);
    const cancel = (trackerIds: string[]) => db.transaction((manager) => ledger.cancelHeldChunks(manager, trackerIds, 'cancelled: the tracker was disabled before the chunk had its turn', new Date()));
    // Another tracker disabled: this run's turns go on.
    expect(await cancel([randomUUID()])).toEqual([]);
    expect(await chunkStates(jobId)).toEqual(['queued', 'queued held', 'queued held']);
    // Its own: the held chunks fail; the job, its first chunk still open, finishes when that does.
    expect(await cancel([trackerId])).toEqual([]);
    expect(await chunkStates(jobId)).toEqual(['queued', 'failed', 'failed']);
    const errors = await db.query(`SELECT error FROM scan_chunks WHERE job_id = $1 AND status = 'failed'`, [jobId]);
    expect(errors).toEqual([0, 1].map(() => ({ error: 'cancelled: the tracker was disabled before the chunk had its turn' })));
    const [job] = await db.query(`SELECT status, chunks_failed FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toEqual({ status: 'running', chunks_failed: 2 });
  });

  it('says, a minute after a paced run is published, that no worker at its site paces (once, also to a new leader); not where one does', async () => {
    const lone = await plannedPacedRun('127.0.0.1-3', 'branch-lone'); // its workers are all older ones: none consumes version 2 there
    const served = await plannedPacedRun('127.0.0.1-3', 'branch-1');
    const said = async (jobId: string) =>
      (await db.query(`SELECT details FROM events WHERE job_id = $1 AND details->>'what' = 'scan-waiting-for-pace'`, [jobId])).map((r: { details: Record<string, unknown> }) => r.details);
    const watch = app.get(QueueWatch);
    expect(await watch.check(new Date())).toBe(0); // published less than a minute ago: local workers may still be starting
    const later = new Date(Date.now() + 2 * 60_000);
    expect(await watch.check(later)).toBe(1);
    expect(await said(lone)).toEqual([
      {
        what: 'scan-waiting-for-pace',
        site: 'branch-lone',
        maxRate: 5,
        chunks: 2,
        reason:
          'no scanner worker that paces its scans has run at site "branch-lone": workers from before scan pacing never take a paced chunk, ' +
          "so the run's 2 chunks wait for one until the queue timeout; upgrade the site's scanner workers, or clear the tracker's maxRate",
      },
    ]);
    expect(await said(served)).toEqual([]);
    // Another leader looks back over the last hour: it finds the job said already.
    const leader = new QueueWatch(db, bus, app.get(LOGGER), app.get(ScanJobLedger), app.get(EventRecorder), app.get(WorkerRegistry));
    expect(await leader.check(later)).toBe(0);
    expect(await said(lone)).toHaveLength(1);
  });

  it("says, a minute after a run is published, that no worker has ever run at its site; not where one has", async () => {
    const [empty, served] = [await plannedRun('127.0.0.1', 'branch-empty', null), await plannedRun('127.0.0.1', 'branch-1', null)];
    const watch = new QueueWatch(db, bus, app.get(LOGGER), app.get(ScanJobLedger), app.get(EventRecorder), app.get(WorkerRegistry));
    expect(await watch.check(new Date(Date.now() + 2 * 60_000))).toBe(1);
    const said = async (jobId: string) => (await db.query(`SELECT details->>'reason' AS reason FROM events WHERE job_id = $1 AND details->>'what' = 'scan-waiting-for-worker'`, [jobId])).map((r: { reason: string }) => r.reason);
    expect(await said(empty)).toEqual([`no scanner worker has ever run at site "branch-empty", so the run's chunk waits for one until the queue timeout; start one there (SCANNER_SITE=branch-empty, or * for every site)`]);
    expect(await said(served)).toEqual([]);
  });

  it('keeps the workers as their presence shows them: offline once silent, with an event saying whether the site still has one; online again, with an event; stopped, without one', async () => {
    const registry = app.get(WorkerRegistry);
    const [site] = await db.query(`INSERT INTO sites (name) VALUES ('branch-w') RETURNING id`);
    const startedAt = new Date().toISOString();
    const presence = (worker: string, extra: Partial<WorkerPresence> = {}): WorkerPresence => ({
      worker,
      kind: 'scanner',
      site: 'branch-w',
      version: '0.2.0',
      features: ['scan-pace'],
      concurrency: 2,
      busy: 0,
      startedAt,
      ...extra,
    });
    const rows = async () =>
      (await db.query(`SELECT name, status, busy FROM workers WHERE site = 'branch-w' ORDER BY name`)).map((w: { name: string; status: string; busy: number }) => `${w.name} ${w.status} ${w.busy}`);
    // Over the bus, as the workers say it.
    bus.emit(Messages.workerPresence, presence('w1'));
    bus.emit(Messages.workerPresence, presence('w2', { busy: 1 }));
    for (let i = 0; i < 100 && (await rows()).length < 2; i += 1) await new Promise((r) => setTimeout(r, 20));
    expect(await rows()).toEqual(['w1 online 0', 'w2 online 1']);
    expect(await registry.online('scanner', 'branch-w', 'scan-pace')).toBe(true);
    expect(await registry.online('scanner', 'branch-nobody')).toBeUndefined();
    expect(await registry.online('collector', 'branch-w')).toBeUndefined();

    const at = (seconds: number) => new Date(Date.now() + seconds * 1000);
    // Not before this replica has listened for the whole threshold (a minute), whatever the rows say.
    expect(await registry.markSilentOffline(at(30))).toBe(0);
    await registry.record(presence('w2'), at(50));
    expect(await registry.markSilentOffline(at(85))).toBe(1);
    expect(await registry.markSilentOffline(at(140))).toBe(1);
    expect(await rows()).toEqual(['w1 offline 0', 'w2 offline 0']);
    expect(await registry.online('scanner', 'branch-w')).toBe(false);
    // Looks further apart than the threshold (the scheduler was not running): no one is taken for silent then.
    await registry.record(presence('w2'), at(150));
    expect(await registry.markSilentOffline(at(400))).toBe(0);
    await registry.record(presence('w2', { stopping: true }), at(401));
    await registry.record(presence('w1'), at(300));
    await registry.record(presence('w1', { stopping: true }), at(310));
    // A beat of the same process that comes after its last word (out of order) leaves it stopped.
    await registry.record(presence('w1'), at(311));
    expect(await rows()).toEqual(['w1 stopped 0', 'w2 stopped 0']);

    const said = await db.query(`SELECT details FROM events WHERE kind = 'communications' AND details->>'site' = 'branch-w' ORDER BY occurred_at`);
    expect(said.map((e: { details: Record<string, unknown> }) => `${String(e.details['what'])} ${String(e.details['worker'])}: ${String(e.details['reason'])}`)).toEqual([
      expect.stringMatching(/^worker-offline w1: scanner worker "w1" at site "branch-w" has not been heard from for 8\d s; 1 other scanner worker is online there$/),
      expect.stringMatching(/^worker-offline w2: scanner worker "w2" at site "branch-w" has not been heard from for 9\d s; no scanner worker is online there now: its scans wait in the queue$/),
      expect.stringMatching(/^worker-online w2: scanner worker "w2" at site "branch-w" speaks again after (99|10\d) s of silence$/),
      expect.stringMatching(/^worker-online w1: scanner worker "w1" at site "branch-w" speaks again after 30\d s of silence$/),
    ]);
    // For alert rules scoped to the site: the event has no device to take it from.
    expect(said.every((e: { details: Record<string, unknown> }) => e.details['siteId'] === site.id)).toBe(true);
    // The same name, a new process (`PORTOLAN_INSTANCE` set): online again, with no event (it had stopped, not gone silent).
    const restarted = new Date(Date.now() + 1000).toISOString();
    await registry.record(presence('w1', { startedAt: restarted }), at(320));
    expect(await rows()).toEqual(['w1 online 0', 'w2 stopped 0']);
    expect(await db.query(`SELECT 1 FROM events WHERE kind = 'communications' AND details->>'site' = 'branch-w'`)).toHaveLength(4);
    // The process before it saying again that it stops (out of order) does not stop the new one.
    await registry.record(presence('w1', { stopping: true }), at(325));
    expect(await rows()).toEqual(['w1 online 0', 'w2 stopped 0']);
    await registry.record(presence('w1', { startedAt: restarted, stopping: true }), at(330));

    // A paced run there, and an unpaced one: its workers said they are there, and none is online now.
    const jobId = await plannedPacedRun('127.0.0.1-3', 'branch-w');
    const unpaced = await plannedRun('127.0.0.1', 'branch-w', null);
    const watch = new QueueWatch(db, bus, app.get(LOGGER), app.get(ScanJobLedger), app.get(EventRecorder), registry);
    expect(await watch.check(at(120))).toBe(2);
    const [noWorker] = await db.query(`SELECT details FROM events WHERE job_id = $1`, [unpaced]);
    expect(noWorker.details).toEqual({
      what: 'scan-waiting-for-worker',
      site: 'branch-w',
      chunks: 1,
      reason: `no scanner worker is online at site "branch-w", so the run's chunk waits for one until the queue timeout; start one there (SCANNER_SITE=branch-w, or * for every site)`,
    });
    const [waiting] = await db.query(`SELECT details->>'reason' AS reason FROM events WHERE job_id = $1 AND details->>'what' = 'scan-waiting-for-pace'`, [jobId]);
    expect(waiting.reason).toBe(
      'no scanner worker that paces its scans is online at site "branch-w" (those from before scan pacing never take a paced chunk, nor say they are there), ' +
        "so the run's 2 chunks wait for one until the queue timeout; start or upgrade the site's scanner workers, or clear the tracker's maxRate",
    );
  });

  /** A registry of its own, its listening from now whatever times other tests looked at; a name's presence messages; its row; the communications events of its site. */
  function presenceOf(name: string, site: string) {
    const registry = new WorkerRegistry(db, bus, app.get(LOGGER), app.get<SchedulerConfig>(SCHEDULER_CONFIG), app.get(EventRecorder));
    const origin = Date.now();
    const at = (seconds: number) => new Date(origin + seconds * 1000);
    const message = (startedAt: string, extra: Partial<WorkerPresence> = {}): WorkerPresence => ({ worker: name, kind: 'collector', site, version: '0.2.0', features: [], concurrency: 1, busy: 0, startedAt, ...extra });
    return {
      registry,
      at,
      /** A process started a second before `seconds`. */
      started: (seconds: number) => at(seconds - 1).toISOString(),
      heard: (startedAt: string, seconds: number, extra: Partial<WorkerPresence> = {}) => registry.record(message(startedAt, extra), at(seconds)),
      row: async () =>
        (await db.query(`SELECT started_at, status, other_started_at, other_state, restarts FROM workers WHERE name = $1`, [name])).map(
          (w: { started_at: Date; status: string; other_started_at: Date | null; other_state: string | null; restarts: number }) => ({
            process: w.started_at.toISOString(),
            status: w.status,
            other: w.other_started_at ? `${w.other_started_at.toISOString()} ${w.other_state}` : null,
            restarts: w.restarts,
          }),
        )[0],
      said: async () =>
        (await db.query(`SELECT details FROM events WHERE kind = 'communications' AND details->>'site' = $1 ORDER BY occurred_at`, [site])).map(
          (e: { details: Record<string, unknown> }) => `${String(e.details['what'])}: ${String(e.details['reason'])}`,
        ),
    };
  }

  it("tells one process under a worker's name from the next: one replaced without a word and silent for 30 s is worker-restarted (a crash loop reported every 15 minutes), one still heard a worker-name-conflict, a rolling restart nothing", async () => {
    const { registry, at, started, heard, row, said } = presenceOf('twin', 'branch-twin');
    const [p1, p2, p3, p4, p5, p6] = [started(0), started(20), started(100), started(140), started(180), started(1040)];
    await heard(p1, 0);
    // Another process while the first is online and never said it stopped: the row follows it; the leader judges the first by time.
    await heard(p2, 20);
    expect(await row()).toEqual({ process: p2, status: 'online', other: `${p1} replaced`, restarts: 0 });
    // The first, still heard within the grace: not gone; heard after it, two processes share the name, said once.
    await heard(p1, 30);
    expect(await registry.settleBooks(at(45))).toBe(0);
    await heard(p1, 52);
    expect(await registry.settleBooks(at(53))).toBe(1);
    await heard(p2, 56);
    await heard(p1, 67);
    expect(await registry.settleBooks(at(68))).toBe(0);
    expect(await row()).toEqual({ process: p2, status: 'online', other: `${p1} conflict`, restarts: 0 });
    // The first says it stops; a beat of it that comes late is passed over.
    await heard(p1, 80, { stopping: true });
    await heard(p1, 81);
    expect(await row()).toEqual({ process: p2, status: 'online', other: `${p1} stopped`, restarts: 0 });
    // The second crashes: replaced, and silent for the grace, a restart, said.
    await heard(p2, 90);
    await heard(p3, 100);
    expect(await registry.settleBooks(at(110))).toBe(0);
    expect(await registry.settleBooks(at(131))).toBe(1);
    // A crash loop: the restarts in the next 15 minutes are counted, not said...
    await heard(p4, 140);
    expect(await registry.settleBooks(at(171))).toBe(0);
    await heard(p5, 180);
    expect(await registry.settleBooks(at(211))).toBe(0);
    expect(await row()).toEqual({ process: p5, status: 'online', other: null, restarts: 2 });
    // ...and said once those 15 minutes are over.
    expect(await registry.settleBooks(at(131 + 900))).toBe(1);
    // A rolling restart (the new process first, the old one's stop after it): no event.
    await heard(p5, 1035);
    await heard(p6, 1040);
    await heard(p5, 1045, { stopping: true });
    expect(await registry.settleBooks(at(1075))).toBe(0);
    expect(await row()).toEqual({ process: p6, status: 'online', other: `${p5} stopped`, restarts: 0 });

    const label = 'collector worker "twin" at site "branch-twin"';
    expect(await said()).toEqual([
      `worker-name-conflict: two collector processes at site "branch-twin" speak as "twin", one started at ${p2} and one at ${p1}: GET /workers follows the first, and the other's silence goes unnoticed while the first speaks; give each its own PORTOLAN_INSTANCE`,
      `worker-restarted: ${label} restarted without saying it stopped (it crashed, or was killed): the process started at ${p2}, last heard at ${at(90).toISOString()}, was replaced by one started at ${p3}`,
      `worker-restarted: ${label} restarted without saying it stopped (it crashed, or was killed); 2 such restarts since ${at(131).toISOString()}`,
    ]);
  });

  it('hands a name to the process that shares it when the one it follows falls silent, with no worker-offline while that one speaks', async () => {
    const { registry, at, started, heard, row, said } = presenceOf('twin-2', 'branch-twin-2');
    const [p1, p2] = [started(0), started(20)];
    await heard(p1, 0);
    await heard(p2, 20);
    for (const seconds of [35, 50]) {
      await heard(p1, seconds);
      await heard(p2, seconds);
    }
    expect(await registry.settleBooks(at(51))).toBe(1);
    // The second falls silent after 50 s; the first speaks on.
    for (const seconds of [65, 80, 95]) await heard(p1, seconds);
    expect(await registry.settleBooks(at(100))).toBe(0);
    expect(await registry.markSilentOffline(at(111))).toBe(0);
    expect(await row()).toEqual({ process: p2, status: 'online', other: `${p1} conflict`, restarts: 0 });
    // The first's next beat takes the name.
    await heard(p1, 125);
    expect(await row()).toEqual({ process: p1, status: 'online', other: null, restarts: 0 });
    expect(await registry.settleBooks(at(126))).toBe(0);
    expect((await said()).map((e: string) => e.split(':')[0])).toEqual(['worker-name-conflict']);
  });

  it('takes no worker for silent while its scheduler was cut off from NATS', async () => {
    const nats = await JetStreamBus.connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', name: 'scheduler-int-cut-off', logger: app.get(LOGGER) });
    const registry = new WorkerRegistry(db, nats, app.get(LOGGER), app.get<SchedulerConfig>(SCHEDULER_CONFIG), app.get(EventRecorder));
    const origin = Date.now();
    const at = (seconds: number) => new Date(origin + seconds * 1000);
    const startedAt = at(-1).toISOString();
    for (const worker of ['cut-1', 'cut-2']) await registry.record({ worker, kind: 'scanner', site: 'branch-cut', version: '0.2.0', features: [], concurrency: 1, busy: 0, startedAt }, at(0));
    await registry.look(at(5));
    // cut-2 speaks on; then this replica's connection is gone: what the workers said meanwhile went unheard.
    await registry.record({ worker: 'cut-2', kind: 'scanner', site: 'branch-cut', version: '0.2.0', features: [], concurrency: 1, busy: 0, startedAt }, at(20));
    await nats.close();
    await registry.look(at(30));
    // cut-1 silent for 70 s: not taken for gone, this replica having listened only since 30 s.
    expect(await registry.markSilentOffline(at(70))).toBe(0);
    // Once it has listened for the threshold since, both are.
    expect(await registry.markSilentOffline(at(91))).toBeGreaterThanOrEqual(2);
    expect(await db.query(`SELECT name, status FROM workers WHERE site = 'branch-cut' ORDER BY name`)).toEqual([
      { name: 'cut-1', status: 'offline' },
      { name: 'cut-2', status: 'offline' },
    ]);
  });

  it('fails a run whose device now lies outside the scope guard, with a communications event', async () => {
    const ids = await tracker('127.0.0.1 10.9.8.7');
    const jobId = await pendingJob(ids);
    await app.get(RunPlanner).plan({ jobId, trackerId: ids.trackerId, trigger: 'manual', requestedAt: new Date().toISOString() });
    const [job] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toMatchObject({ status: 'failed', error: expect.stringMatching(/10\.9\.8\.7 is outside the allowed scope/) });
    const [event] = await db.query(`SELECT details FROM events WHERE job_id = $1 AND kind = 'communications'`, [jobId]);
    expect(event.details).toMatchObject({ what: 'scan-failed', reason: expect.stringMatching(/outside the allowed scope/) });
    expect(await db.query(`SELECT 1 FROM scan_chunks WHERE job_id = $1`, [jobId])).toEqual([]);
  });

  it('starts due trackers and moves their next run', async () => {
    const seen = await bus.consume({ message: Messages.runRequested, durable: 'test-run-requests' }, async (d) => (runRequests.push(d.envelope.payload), Outcomes.ack()));
    const due = new Date(Date.now() - 5_000);
    const ids = await tracker('127.0.0.1', undefined, due);
    const notDue = await tracker('127.0.0.2', undefined, new Date(Date.now() + 600_000));
    await app.get(SchedulerLoop).startDueTrackers(new Date());
    await until(() => runRequests.some((r) => r.trackerId === ids.trackerId));
    await seen.stop();
    expect(runRequests.filter((r) => r.trackerId === ids.trackerId)).toHaveLength(1);
    expect(runRequests.some((r) => r.trackerId === notDue.trackerId)).toBe(false);
    const [row] = await db.query(`SELECT next_run_at FROM trackers WHERE id = $1`, [ids.trackerId]);
    expect(new Date(row.next_run_at).getTime()).toBe(due.getTime() + 3_600_000);
  });

  it("skips a paced tracker's scheduled run while its last run is under way, saying so; starts an unpaced one's", async () => {
    const due = new Date(Date.now() - 5_000);
    const paced = await tracker('127.0.0.1', undefined, due);
    const unpaced = await tracker('127.0.0.2', undefined, due);
    await db.query('UPDATE trackers SET max_rate = 5 WHERE id = $1', [paced.trackerId]);
    const open = await Promise.all([paced, unpaced].map(async (ids) => {
      const jobId = await pendingJob(ids);
      await db.query(`UPDATE scan_jobs SET status = 'running' WHERE id = $1`, [jobId]);
      return jobId;
    }));
    await app.get(SchedulerLoop).startDueTrackers(new Date());
    const jobs = async (trackerId: string) => (await db.query(`SELECT count(*)::int AS n FROM scan_jobs WHERE tracker_id = $1`, [trackerId]))[0].n;
    expect([await jobs(paced.trackerId), await jobs(unpaced.trackerId)]).toEqual([1, 2]);
    const [row] = await db.query(`SELECT next_run_at, last_run_at FROM trackers WHERE id = $1`, [paced.trackerId]);
    expect(row).toEqual({ next_run_at: new Date(due.getTime() + 3_600_000), last_run_at: null });
    const events = await db.query(`SELECT tracker_id, job_id, details FROM events WHERE tracker_id = ANY($1) AND kind = 'communications'`, [[paced.trackerId, unpaced.trackerId]]);
    expect(events).toEqual([
      {
        tracker_id: paced.trackerId,
        job_id: null,
        details: {
          what: 'scan-skipped',
          underWay: open[0],
          reason: `the tracker's run ${open[0]} is still under way: a paced tracker's runs take turns (maxRate 5), so this scheduled run was not started; the next is due ${new Date(due.getTime() + 3_600_000).toISOString()}`,
        },
      },
    ]);
  });

  it('fails a chunk that no worker finished by its deadline, and its job', async () => {
    const ids = await tracker('127.0.0.1');
    const jobId = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1)`, [jobId, ids.trackerId, ids.deviceId]);
    await db.query(`INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline) VALUES ($1, $2, 0, '["127.0.0.1"]', 1, 10, 'queued', now(), now() - interval '1 second')`, [randomUUID(), jobId]);
    expect(await app.get(SchedulerLoop).expireLostChunks(new Date())).toBeGreaterThanOrEqual(1);
    const [job] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job).toMatchObject({ status: 'failed', error: expect.stringMatching(/no scanner worker picked the chunk up before its deadline/) });

    // A collection says so of the collectors.
    const collection = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1)`, [collection, ids.trackerId, ids.deviceId]);
    await db.query(`INSERT INTO scan_chunks (id, job_id, chunk_index, kind, targets, host_count, probe_count, status, queued_at, deadline) VALUES ($1, $2, 0, 'collect', '["127.0.0.1"]', 1, 1, 'queued', now(), now() - interval '1 second')`, [randomUUID(), collection]);
    expect(await app.get(SchedulerLoop).expireLostChunks(new Date())).toBeGreaterThanOrEqual(1);
    const [collected] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [collection]);
    expect(collected).toEqual({ status: 'failed', error: 'chunk 1/1: timed out: no collector picked the collection up before its deadline' });

    // Where workers say they are there, it says who is there now.
    const registry = app.get(WorkerRegistry);
    const startedAt = new Date().toISOString();
    const worker = { site: 'branch-staff', version: '0.2.0', features: [], concurrency: 2, startedAt };
    await registry.record({ ...worker, worker: 's1', kind: 'scanner', busy: 2 });
    await registry.record({ ...worker, worker: 's2', kind: 'scanner', busy: 1 });
    await registry.record({ ...worker, worker: 'c1', kind: 'collector', busy: 0, stopping: true });
    /** The error of a one-chunk job at the site whose chunk no one took by its deadline. */
    const untaken = async (kind: 'scan' | 'collect', request: Record<string, unknown>) => {
      const id = randomUUID();
      await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1)`, [id, ids.trackerId, ids.deviceId]);
      await db.query(
        `INSERT INTO scan_chunks (id, job_id, chunk_index, kind, targets, host_count, probe_count, status, queued_at, deadline, request) VALUES ($1, $2, 0, $3, '["127.0.0.1"]', 1, 1, 'queued', now(), now() - interval '1 second', $4)`,
        [randomUUID(), id, kind, JSON.stringify({ targets: ['127.0.0.1'], site: 'branch-staff', ...request })],
      );
      await app.get(SchedulerLoop).expireLostChunks(new Date());
      return (await db.query(`SELECT error FROM scan_jobs WHERE id = $1`, [id]))[0].error as string;
    };
    expect(await untaken('scan', {})).toBe('chunk 1/1: timed out: no scanner worker picked the chunk up before its deadline (now 2 scanner workers are online at site "branch-staff", 3 of 4 slots busy)');
    expect(await untaken('collect', {})).toBe('chunk 1/1: timed out: no collector picked the collection up before its deadline (now no collector is online at site "branch-staff")');
    expect(await untaken('scan', { maxRate: 2 })).toBe(
      'chunk 1/1: timed out: no scanner worker that paces its scans picked the chunk up before its deadline (maxRate 2; now no scanner worker that paces is online at site "branch-staff"); ' +
        "only workers that pace take a paced chunk, those from before scan pacing never do (upgrade the site's scanner workers, or clear the tracker's maxRate)",
    );
  });

  it('says, of a paced chunk no worker took, that only workers that pace take it', async () => {
    const ids = await tracker('127.0.0.1');
    const jobId = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1)`, [jobId, ids.trackerId, ids.deviceId]);
    await db.query(
      `INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline, request) VALUES ($1, $2, 0, '["127.0.0.1"]', 1, 10, 'queued', now(), now() - interval '1 second', $3)`,
      [randomUUID(), jobId, JSON.stringify({ targets: ['127.0.0.1'], maxRate: 2.5 })],
    );
    expect(await app.get(SchedulerLoop).expireLostChunks(new Date())).toBeGreaterThanOrEqual(1);
    const [job] = await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [jobId]);
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(
      /no scanner worker that paces its scans picked the chunk up before its deadline \(maxRate 2\.5\); only workers that pace take a paced chunk, those from before scan pacing never do: the site may have none \(upgrade its scanner workers, or clear the tracker's maxRate\), or they were all busy$/,
    );
  });

  it("leaves an agent's stored result waiting for the comparer past its chunk's deadline; fails it once the agent result timeout has passed since its upload", async () => {
    const ids = await tracker('127.0.0.1');
    const { agentId } = await insertTestAgent(db);
    /** An agent run with its result stored `hoursAgo` and not applied, its chunk's deadline passed. */
    const stored = async (hoursAgo: number) => {
      const jobId = randomUUID();
      await db.query(
        `INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, started_at, chunk_count, agent_id) VALUES ($1, $2, $3, 'schedule', 'running', now(), now(), 1, $4)`,
        [jobId, ids.trackerId, ids.deviceId, agentId],
      );
      await db.query(
        `INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, worker, queued_at, started_at, deadline) VALUES ($1, $2, 0, '["127.0.0.1"]', 1, 10, 'running', 'agent:h', now(), now(), now() - interval '1 second')`,
        [randomUUID(), jobId],
      );
      await db.query(
        `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, body_gzip, acceptance, received_at) VALUES ($1, $2, $3, $4, $5, 'completed', '\\x00', '{}', now() - make_interval(hours => $6))`,
        [randomUUID(), agentId, randomUUID(), jobId, ids.trackerId, hoursAgo],
      );
      return jobId;
    };
    const waiting = await stored(1);
    const forgotten = await stored(25); // the result timeout is 24 h
    await app.get(SchedulerLoop).expireLostChunks(new Date());
    const jobs = async (jobId: string) => (await db.query(`SELECT status, error FROM scan_jobs WHERE id = $1`, [jobId]))[0];
    expect(await jobs(waiting)).toEqual({ status: 'running', error: null });
    expect(await jobs(forgotten)).toMatchObject({ status: 'failed', error: expect.stringMatching(/the result agent:h sent was not applied within the agent result timeout/) });
  });

  it('recovers what was committed but never published: run requests, chunk jobs, event announcements', async () => {
    const seen = await bus.consume({ message: Messages.runRequested, durable: 'test-run-requests-2' }, async (d) => (runRequests.push(d.envelope.payload), Outcomes.ack()));
    const ids = await tracker('127.0.0.1', 'branch-1');
    const lostRun = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at) VALUES ($1, $2, $3, 'manual', 'pending', now() - interval '1 minute')`, [lostRun, ids.trackerId, ids.deviceId]);
    const loop = app.get(SchedulerLoop);
    await loop.republishPendingRuns(new Date());
    await until(() => runRequests.some((r) => r.jobId === lostRun));
    await seen.stop();
    expect(runRequests.some((r) => r.jobId === lostRun)).toBe(true);

    const jobId = randomUUID();
    const chunkId = randomUUID();
    await db.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'queued', now(), 1)`, [jobId, ids.trackerId, ids.deviceId]);
    const request: ScanRequested = {
      jobId, chunkId, chunkIndex: 0, chunkCount: 1, trackerId: ids.trackerId, deviceId: ids.deviceId, site: 'branch-1', targets: ['127.0.0.1'], ipv6: false,
      hostNames: {}, hostCount: 1, ports: { tcp: [{ from: 40000, to: 40009 }], udp: [] }, tcpTechnique: 'auto', skipHostDiscovery: false, timeoutMs: 60_000,
      deadline: new Date(Date.now() + 3_600_000).toISOString(),
    };
    await db.query(
      `INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, queued_at, deadline, request) VALUES ($1, $2, 0, '["127.0.0.1"]', 1, 10, 'queued', now() - interval '1 minute', now() + interval '1 hour', $3)`,
      [chunkId, jobId, JSON.stringify(request)],
    );
    expect(await app.get(ChunkDispatcher).dispatchUnpublished(new Date())).toBe(1);
    await until(() => scanJobs.some((j) => j.chunkId === chunkId));
    expect(scanJobs.some((j) => j.chunkId === chunkId)).toBe(true);
    expect(await app.get(ChunkDispatcher).dispatchUnpublished(new Date())).toBe(0);

    const startedAt = new Date();
    await app.get(ProgressTracker).record({ jobId, chunkId, worker: 'w', engine: 'nmap', percent: 5, hostsDone: 0, startedAt: startedAt.toISOString(), at: startedAt.toISOString() });
    const [chunk] = await db.query(`SELECT status, deadline FROM scan_chunks WHERE id = $1`, [chunkId]);
    expect(chunk.status).toBe('running');
    expect(new Date(chunk.deadline).getTime()).toBe(startedAt.getTime() + 60_000 + 120_000);
    // A later attempt (a retry, another worker) has as long from its own start; a late word of the first moves nothing back.
    const retriedAt = new Date(startedAt.getTime() + 90_000);
    await app.get(ProgressTracker).record({ jobId, chunkId, worker: 'w2', engine: 'nmap', percent: 1, hostsDone: 0, startedAt: retriedAt.toISOString(), at: retriedAt.toISOString() });
    await app.get(ProgressTracker).record({ jobId, chunkId, worker: 'w', engine: 'nmap', percent: 6, hostsDone: 0, startedAt: startedAt.toISOString(), at: startedAt.toISOString() });
    const [retried] = await db.query(`SELECT deadline, started_at FROM scan_chunks WHERE id = $1`, [chunkId]);
    expect(retried).toEqual({ deadline: new Date(retriedAt.getTime() + 60_000 + 120_000), started_at: startedAt });

    const announced: string[] = [];
    const events = await bus.consume({ message: Messages.eventRecorded, durable: 'test-events' }, async (d) => (announced.push(d.envelope.payload.eventId), Outcomes.ack()));
    const [event] = await db.query(`INSERT INTO events (id, occurred_at, kind, device_id) VALUES (gen_random_uuid(), now() - interval '1 minute', 'added', $1) RETURNING id`, [ids.deviceId]);
    expect(await app.get(EventRecorder).announceUnannounced(new Date())).toBeGreaterThanOrEqual(1);
    await until(() => announced.includes(event.id));
    await events.stop();
    expect(announced).toContain(event.id);
    const [row] = await db.query(`SELECT announced_at FROM events WHERE id = $1`, [event.id]);
    expect(row.announced_at).not.toBeNull();
  });

  it('clears an agent flagged duplicated once no boot has returned for ten minutes, and tells every gateway; each duty of a tick runs though another fails every time', async () => {
    const { agentId } = await insertTestAgent(db);
    const heard: { agentId: string; reason: string }[] = [];
    const subscription = await bus.subscribe(Messages.agentCredentialsChanged, (envelope) => void heard.push(envelope.payload));
    const flaggedAt = new Date(Date.now() - 20 * 60_000);
    await db.query(`UPDATE agents SET duplicated_at = $2, duplicate_changed_at = $2, boot_returns = 2, boot_returned_at = $3 WHERE id = $1`, [agentId, flaggedAt, new Date(Date.now() - 11 * 60_000)]);
    // A duty before it fails at every tick: the outbox's table is away.
    await db.query(`ALTER TABLE agent_uploads RENAME TO agent_uploads_away`);
    try {
      await app.get(SchedulerLoop).tick(new Date());
    } finally {
      await db.query(`ALTER TABLE agent_uploads_away RENAME TO agent_uploads`);
    }
    const [agent] = await db.query(`SELECT duplicated_at, boot_returns, duplicate_changed_at > $2 AS changed FROM agents WHERE id = $1`, [agentId, flaggedAt]);
    expect(agent).toEqual({ duplicated_at: null, boot_returns: 0, changed: true });
    const [event] = await db.query(`SELECT details FROM events WHERE details->>'what' = 'agent-duplicate-resolved' AND details->>'agentId' = $1`, [agentId]);
    expect(event.details).toMatchObject({ agentId, duplicatedAt: flaggedAt.toISOString() });
    await until(() => heard.length > 0);
    expect(heard).toEqual([{ agentId, reason: 'duplicate-resolved' }]);
    await subscription.stop();

    // A return within the ten minutes keeps the flag.
    await db.query(`UPDATE agents SET duplicated_at = now(), boot_returned_at = now() - interval '9 minutes' WHERE id = $1`, [agentId]);
    await app.get(SchedulerLoop).tick(new Date());
    expect((await db.query(`SELECT duplicated_at IS NOT NULL AS flagged FROM agents WHERE id = $1`, [agentId]))[0]).toEqual({ flagged: true });
  });

  it('lets one of two schedulers given the same instance name lead, not both', async () => {
    const platform = app.get<PlatformConfig>(PLATFORM_CONFIG);
    const [first, second] = [new LeaderLease(db, platform), new LeaderLease(db, platform)];
    expect(first.holder).not.toBe(second.holder);
    expect(first.holder.startsWith(`${platform.instance}/`)).toBe(true);
    expect(await first.acquire('test-twins', 60_000)).toBe(true);
    expect(await second.acquire('test-twins', 60_000)).toBe(false);
    expect(await first.acquire('test-twins', 60_000)).toBe(true);
    await second.release('test-twins'); // not its lease: left alone
    expect(await second.acquire('test-twins', 60_000)).toBe(false);
    await first.release('test-twins');
    expect(await second.acquire('test-twins', 60_000)).toBe(true);
  });
});
