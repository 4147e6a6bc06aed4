import { randomBytes, randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Messages, streamOf } from '@portolan/contracts';
import { nmapScanning, REMOTE_TRACKER, waitFor } from './agent-e2e.support';
import { ApiClient } from './api.client';
import { DistributedHub } from './distributed.hub';
import { LoopbackListeners } from './loopback.listeners';
import { runPortChangeScenario } from './port-change.scenario';
import { ServiceProcess } from './service.process';

/**
 * Distributed mode: gateway, scheduler, comparer and three scanner workers of one site as
 * separate processes over the real Postgres and NATS JetStream. Chunks of 2 hosts make the
 * 4-host network scan two jobs on the site's subject, shared by the workers.
 */
describe('distributed hub (Postgres + NATS JetStream, separate processes)', () => {
  const listeners = new LoopbackListeners();
  const site = `e2e-${randomBytes(3).toString('hex')}`;
  let hub: DistributedHub;
  let api: ApiClient;
  let comparer: ServiceProcess;
  let workers: ServiceProcess[];

  beforeAll(async () => {
    hub = await DistributedHub.create('portolan_e2e', { SCHEDULER_CHUNK_MAX_HOSTS: '2', SCANNER_SITE: site });
    api = new ApiClient((await hub.gateway()).url);
    [, comparer, ...workers] = await hub.start('scheduler', 'comparer', ...[1, 2, 3].map((n) => ({ name: `scanner-${n}`, app: 'scanner' })));
  }, 120_000);

  /** The id of the suite's site, made on first use. */
  async function siteIdOfSuite(): Promise<string> {
    const sites = await api.get<{ items: { id: string; name: string }[] }>('/sites?limit=500');
    return sites.body.items.find((s) => s.name === site)?.id ?? String((await api.post('/sites', { name: site })).body['id']);
  }

  afterAll(async () => {
    await hub?.stop();
    await listeners.closeAll();
  }, 60_000);

  it('turns an opened and a closed port into exactly one added and one removed event', async () => {
    await hub.logsOnFailure(async () => {
      const { jobs } = await runPortChangeScenario(api, listeners, site);
      for (const job of jobs) {
        expect(job['chunks']).toMatchObject({ total: 2, done: 2, failed: 0 });
        const scans = job['scans'] as { worker: string; engine: string; args: string[] }[];
        for (const scan of scans) {
          expect(scan.worker).toMatch(/^scanner-[123]$/);
          expect(scan.engine).toBe('nmap');
          expect(scan.args).toEqual(expect.arrayContaining(['-p', 'T:40000-40100']));
        }
      }
    });
  }, 180_000);

  it('applies a result the comparer comes to after the scheduler failed its chunk at the deadline (the comparer stopped meanwhile), and finishes the job again with it', async () => {
    await hub.logsOnFailure(async () => {
      await listeners.open('127.0.0.25', 40025);
      const siteId = await siteIdOfSuite();
      const device = await api.post('/devices', { name: 'late result', kind: 'host', address: '127.0.0.25', siteId });
      const tracker = await api.post('/trackers', { name: 'late result', deviceId: device.body['id'], ...REMOTE_TRACKER });
      expect(tracker.status).toBe(201);

      await comparer.stop();
      const jobId = String((await api.post(`/trackers/${String(tracker.body['id'])}/run`, {})).body['jobId']);
      await waitFor('a worker to scan and publish', async () => workers.some((w) => w.log.split('\n').some((line) => line.includes(jobId) && line.includes('scan finished'))), (done) => done, 60_000);
      // The comparer stays stopped past the chunk's run timeout (10 min and more): its deadline is moved instead of waiting.
      await hub.sql.query(`UPDATE scan_chunks SET deadline = now() - interval '1 second' WHERE job_id = $1`, [jobId]);
      const failed = await api.waitForJob(jobId, 30_000);
      expect(failed).toMatchObject({ status: 'failed', error: expect.stringMatching(/^chunk 1\/1: timed out: worker scanner-[123] did not finish the chunk before its deadline$/) });

      [comparer] = await hub.start({ name: 'comparer-2', app: 'comparer' });
      const applied = await waitFor('the job finished again', async () => (await api.get(`/jobs/${jobId}`)).body, (job) => job['status'] !== 'failed', 30_000);
      expect(applied).toMatchObject({ status: 'succeeded', error: null, chunks: { total: 1, done: 1, failed: 0 } });
      const ports = await api.get<{ items: { host: string; port: number }[] }>(`/devices/${String(device.body['id'])}/ports`);
      expect(ports.body.items.map((p) => `${p.host}:${p.port}`)).toEqual(['127.0.0.25:40025']);
      const comms = await api.get<{ items: { details: { what: string; status: string; previousStatus?: string } }[] }>(`/events?jobId=${jobId}&type=communications`);
      expect(comms.body.items.map((e) => `${e.details.what} ${e.details.status} ${e.details.previousStatus ?? '-'}`).sort()).toEqual(['scan-failed failed -', 'scan-finished succeeded failed']);
    });
  }, 120_000);

  it('sends a paced scan only to the workers that keep to its pace, never on the subject that older workers share, one chunk at a time', async () => {
    await hub.logsOnFailure(async () => {
      const nc = await connect({ servers: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222' });
      try {
        const jsm = await jetstreamManager(nc);
        const stream = streamOf(Messages.scanRequested).name;
        /** The site's consumers as the workers made them; a worker from before the pace shares version 1's. */
        const consumers = async () => {
          const [v1, v2] = await Promise.all([`scanner-${site}`, `scanner_v2-${site}`].map((durable) => jsm.consumers.info(stream, durable)));
          return { filters: [v1.config.filter_subject, v2.config.filter_subject], delivered: [v1.delivered.consumer_seq, v2.delivered.consumer_seq] };
        };
        const before = await consumers();
        expect(before.filters).toEqual([`portolan.job.scan.requested.v1.${site}`, `portolan.job.scan.requested.v2.${site}`]);

        await listeners.open('127.0.0.26', 40026);
        await listeners.open('127.0.0.28', 40028);
        const siteId = await siteIdOfSuite();
        // Two chunks of two hosts, and three idle workers: unpaced, they would be scanned at once.
        const device = await api.post('/devices', { name: 'fragile plcs', kind: 'network', address: '127.0.0.26-29', siteId });
        const tracker = await api.post('/trackers', { name: 'gentle', deviceId: device.body['id'], ...REMOTE_TRACKER, mode: 'network', maxRate: 100 });
        expect(tracker.status).toBe(201);
        const jobId = String((await api.post(`/trackers/${String(tracker.body['id'])}/run`, {})).body['jobId']);
        const job = await api.waitForJob(jobId, 90_000);
        expect(job).toMatchObject({ status: 'succeeded', chunks: { total: 2, done: 2, failed: 0, held: 0 } });
        for (const scan of job['scans'] as { worker: string; args: string[] }[]) {
          expect(scan.worker).toMatch(/^scanner-[123]$/);
          expect(scan.args.join(' ')).toContain('--max-rate 100');
        }
        // The second chunk was published, and so scanned, only once the first was done: the run never sent more than its pace.
        const { rows } = await hub.sql.query<{ started_at: Date; finished_at: Date }>(`SELECT started_at, finished_at FROM scan_chunks WHERE job_id = $1 ORDER BY chunk_index`, [jobId]);
        expect(rows[1].started_at.getTime()).toBeGreaterThanOrEqual(rows[0].finished_at.getTime());
        const ports = await api.get<{ items: { host: string; port: number }[] }>(`/devices/${String(device.body['id'])}/ports`);
        expect(ports.body.items.map((p) => `${p.host}:${p.port}`).sort()).toEqual(['127.0.0.26:40026', '127.0.0.28:40028']);
        // Each chunk was delivered once, on version 2; version 1, which an older worker would take from, delivered nothing.
        const after = await consumers();
        expect(after.delivered[0]).toBe(before.delivered[0]);
        expect(after.delivered[1]).toBe(before.delivered[1] + 2);
      } finally {
        await nc.close();
      }
    });
  }, 120_000);

  it("disabling a paced tracker cancels its chunks still waiting their turn, in the edit's transaction", async () => {
    await hub.logsOnFailure(async () => {
      const device = await api.post('/devices', { name: 'held plcs', kind: 'network', address: '127.0.0.27-28' });
      const tracker = await api.post('/trackers', { name: 'held', deviceId: device.body['id'], ...REMOTE_TRACKER, mode: 'network', maxRate: 50 });
      const trackerId = String(tracker.body['id']);
      // A run under way: its first chunk running, its second held for its turn (as the scheduler plans a paced run).
      const jobId = randomUUID();
      await hub.sql.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, status, requested_at, chunk_count) VALUES ($1, $2, $3, 'manual', 'running', now(), 2)`, [jobId, trackerId, device.body['id']]);
      for (const [index, status, held] of [[0, 'running', false], [1, 'queued', true]] as const) {
        await hub.sql.query(
          `INSERT INTO scan_chunks (id, job_id, chunk_index, targets, host_count, probe_count, status, held, queued_at, deadline) VALUES ($1, $2, $3, '["127.0.0.27"]', 1, 101, $4, $5, now(), now() + interval '1 hour')`,
          [randomUUID(), jobId, index, status, held],
        );
      }
      expect((await api.patch(`/trackers/${trackerId}`, { enabled: false })).status).toBe(200);
      const { rows } = await hub.sql.query<{ status: string; held: boolean; error: string | null }>(`SELECT status, held, error FROM scan_chunks WHERE job_id = $1 ORDER BY chunk_index`, [jobId]);
      expect(rows).toEqual([
        { status: 'running', held: false, error: null },
        { status: 'failed', held: false, error: 'cancelled: the tracker was disabled before the chunk had its turn' },
      ]);
    });
  }, 60_000);

  type Worker = { name: string; kind: string; site: string; features: string[]; concurrency: number; busy: number; status: string; startedAt: string; otherStartedAt: string | null; otherState: string | null; restarts: number };
  const listed = async () => (await api.get<{ items: Worker[] }>(`/workers?site=${site}&kind=scanner`)).body.items;

  it("lists the site's scanner workers as they say they are there; one stopped says so", async () => {
    await hub.logsOnFailure(async () => {
      const online = await waitFor('three scanner workers online', listed, (items) => items.filter((w) => w.status === 'online').length === 3, 30_000);
      // Idle: each waits for a chunk (its pull holds its one slot), scanning none.
      expect(online.map((w) => `${w.name} ${w.kind} ${w.site} ${w.features.join(',')} ${w.concurrency} ${w.busy} ${w.status}`)).toEqual(
        [1, 2, 3].map((n) => `scanner-${n} scanner ${site} scan-pace 1 0 online`),
      );
      await workers[2].stop();
      const after = await waitFor('the stopped worker to say so', listed, (items) => items.some((w) => w.name === 'scanner-3' && w.status === 'stopped'), 30_000);
      expect(after.map((w) => `${w.name} ${w.status}`)).toEqual(['scanner-1 online', 'scanner-2 online', 'scanner-3 stopped']);
    });
  }, 60_000);

  it('says a scanner worker killed and started again under its name restarted without a word (worker-restarted); GET /workers shows the new process', async () => {
    await hub.logsOnFailure(async () => {
      const before = (await listed()).find((w) => w.name === 'scanner-2');
      expect(before).toMatchObject({ status: 'online' });
      await workers[1].kill();
      [workers[1]] = await hub.start({ name: 'scanner-2', app: 'scanner' });
      const after = await waitFor('the new scanner-2 process listed', listed, (items) => items.some((w) => w.name === 'scanner-2' && w.startedAt !== before?.startedAt), 30_000);
      const now = after.find((w) => w.name === 'scanner-2');
      expect(now).toMatchObject({ status: 'online', otherStartedAt: before?.startedAt, otherState: 'replaced', restarts: 0 });
      // Judged once the new process has spoken for 30 s without a word from the one it replaced.
      const said = async () => (await hub.sql.query<{ details: Record<string, unknown> }>(`SELECT details FROM events WHERE kind = 'communications' AND details->>'worker' = 'scanner-2' ORDER BY occurred_at`)).rows;
      await waitFor('the restart to be said', said, (events) => events.length > 0, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 5_000)); // the leader's next ticks would have said it again by now
      const rows = await said();
      expect(rows.map((r) => r.details)).toEqual([
        expect.objectContaining({
          what: 'worker-restarted',
          site,
          previousStartedAt: before?.startedAt,
          startedAt: now?.startedAt,
          restarts: 1,
          reason: expect.stringMatching(new RegExp(`^scanner worker "scanner-2" at site "${site}" restarted without saying it stopped \\(it crashed, or was killed\\)`)),
        }),
      ]);
    });
  }, 120_000);

  it('finishes a scan whose worker was killed mid-chunk: the chunk goes to another worker after the ack wait, and the job succeeds with its result', async () => {
    await hub.logsOnFailure(async () => {
      await listeners.open('127.0.0.34', 40034);
      const siteId = await siteIdOfSuite();
      const device = await api.post('/devices', { name: 'crash victim', kind: 'host', address: '127.0.0.34', siteId });
      // Paced, so that the scan (101 ports at 10 probes a second) is still under way when its worker is killed.
      const tracker = await api.post('/trackers', { name: 'crash', deviceId: device.body['id'], ...REMOTE_TRACKER, maxRate: 10 });
      const jobId = String((await api.post(`/trackers/${String(tracker.body['id'])}/run`, {})).body['jobId']);
      type Scan = { worker: string | null; status: string };
      const running = await waitFor('the chunk to be under way', async () => (await api.get<{ scans: Scan[] }>(`/jobs/${jobId}`)).body.scans ?? [], (scans) => scans[0]?.status === 'running' && Boolean(scans[0]?.worker), 30_000);
      const victim = workers.find((w) => w.name === running[0].worker);
      expect(victim?.exitCode).toBeNull();
      await victim?.kill();
      const job = await api.waitForJob(jobId, 120_000);
      expect(job).toMatchObject({ status: 'succeeded', chunks: { total: 1, done: 1, failed: 0 } });
      const [scan] = job['scans'] as Scan[];
      expect(scan.worker).toMatch(/^scanner-[123]$/);
      expect(scan.worker).not.toBe(victim?.name);
      const ports = await api.get<{ items: { host: string; port: number }[] }>(`/devices/${String(device.body['id'])}/ports`);
      expect(ports.body.items.map((p) => `${p.host}:${p.port}`)).toEqual(['127.0.0.34:40034']);
    });
  }, 180_000);

  it("cancels a paced network scan under way: its worker, another process, stops nmap on hearing it over NATS; the chunk held behind fails untried", async () => {
    await hub.logsOnFailure(async () => {
      const siteId = await siteIdOfSuite();
      const device = await api.post('/devices', { name: 'wrong segment', kind: 'network', address: '127.0.0.37-40', siteId });
      // Chunks of two hosts, 101 ports each at 2 probes a second: minutes of nmap a chunk, unless stopped.
      const tracker = await api.post('/trackers', { name: 'stopped', deviceId: device.body['id'], ...REMOTE_TRACKER, mode: 'network', skipHostDiscovery: true, maxRate: 2 });
      const jobId = String((await api.post(`/trackers/${String(tracker.body['id'])}/run`, {})).body['jobId']);
      type Scan = { worker: string | null; status: string; held: boolean; error: string | null };
      const scans = async () => (await api.get<{ scans: Scan[] }>(`/jobs/${jobId}`)).body.scans ?? [];
      const [first] = await waitFor('the first chunk to be scanned', scans, (s) => s[0]?.status === 'running' && Boolean(s[0]?.worker) && nmapScanning('127.0.0.37-38'), 30_000);
      expect((await scans())[1]).toMatchObject({ status: 'queued', held: true });

      const cancelled = await api.post(`/jobs/${jobId}/cancel`, { reason: 'wrong segment' });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/^cancelled by .+: wrong segment$/) });
      const scanner = workers.find((w) => w.name === first.worker);
      await waitFor('its worker to stop nmap', async () => !nmapScanning('127.0.0.37-38') && /scan stopped: its job was cancelled/.test(scanner?.log ?? ''), Boolean, 10_000);
      expect((await scans()).map((s) => [s.status, s.held, s.error])).toEqual([
        ['failed', false, cancelled.body['error']],
        ['failed', false, cancelled.body['error']],
      ]);
      expect(scanner?.exitCode).toBeNull();
    });
  }, 90_000);

  it('reports database and bus readiness', async () => {
    const health = await api.get('/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', database: { ok: true, detail: 'postgres' }, bus: { ok: true, kind: 'nats' } } });
  });
});
