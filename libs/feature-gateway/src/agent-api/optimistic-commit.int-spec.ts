import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DataSource, QueryRunner } from 'typeorm';
import { InProcessBus } from '@portolan/bus';
import { AgentResult } from '@portolan/contracts';
import { createLogger } from '@portolan/logging';
import { createDataSource, createTestDatabase, insertTestAgent, migrate } from '@portolan/persistence';
import { AgentUploadOutbox, EventRecorder } from '@portolan/platform';
import { AuthenticatedAgent } from './agent.directory';
import { ScanStartIngest } from './scan-start.ingest';
import { UploadIngest } from './upload.ingest';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The agent ingests' optimistic commit on real Postgres: a batch is read without locks and
 * written in one statement that first checks its jobs are as read. When something changed the
 * job in between (here, a statement run by the test right after the batch's read), the write
 * is undone whole and the batch decided again under the job locks, so nothing is started or
 * announced twice and nothing finished is started again.
 */
describe('agent ingests, optimistic commit (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let bus: InProcessBus;
  let uploads: UploadIngest;
  /** A second gateway replica's ingest. */
  let replica: UploadIngest;
  let starts: ScanStartIngest;
  let agent: AuthenticatedAgent;
  let trackerId: string;
  let transactions: number;
  /** Run once, after the next statement outside a transaction (the batch's read) has ended. */
  let afterRead: (() => Promise<unknown>) | undefined;

  beforeAll(async () => {
    db = await createTestDatabase('portolan_optimistic');
    dataSource = createDataSource({ url: db.url, dataDir: 'unused' });
    await dataSource.initialize();
    await migrate(dataSource);
    const { agentId, deviceId } = await insertTestAgent(dataSource);
    agent = { id: agentId, name: 'h', deviceId, siteId: null, scanner: false };
    [{ id: trackerId }] = await dataSource.query(
      `INSERT INTO trackers (name, device_id, type, mode, agent_id, port_rules, port_set, schedule, send_baseline_events, tcp_technique, skip_host_discovery, enabled)
       VALUES ('t', $1, 'network-port', 'self', $2, '[]', '{"tcp":[{"from":40000,"to":40100}],"udp":[]}', '{"kind":"interval","every":"1h"}', false, 'auto', false, true) RETURNING id`,
      [deviceId, agentId],
    );
    // Each statement the ingests run outside a transaction has a query runner of its own; the
    // one released first in a batch is its read.
    const create = dataSource.createQueryRunner.bind(dataSource);
    jest.spyOn(dataSource, 'createQueryRunner').mockImplementation((mode) => {
      const runner: QueryRunner = create(mode);
      const release = runner.release.bind(runner);
      runner.release = async () => {
        await release();
        const interfere = afterRead;
        afterRead = undefined;
        await interfere?.();
      };
      return runner;
    });
    const begin = dataSource.transaction.bind(dataSource) as (work: unknown) => Promise<unknown>;
    jest.spyOn(dataSource, 'transaction').mockImplementation(((work: unknown) => ((transactions += 1), begin(work))) as never);
    bus = new InProcessBus('optimistic-test', quiet);
    await bus.start();
    const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
    const events = new EventRecorder(bus, logger, dataSource);
    uploads = new UploadIngest(dataSource, logger, events, new AgentUploadOutbox(dataSource, bus, logger));
    replica = new UploadIngest(dataSource, logger, events, new AgentUploadOutbox(dataSource, bus, logger));
    starts = new ScanStartIngest(dataSource, logger, events);
  }, 60_000);

  afterAll(async () => {
    await uploads?.onModuleDestroy();
    await replica?.onModuleDestroy();
    await starts?.onModuleDestroy();
    await bus?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  beforeEach(() => {
    transactions = 0;
    afterRead = undefined;
  });

  /** A job the hub asked the agent to run, not yet picked up. */
  const queuedJob = async (): Promise<string> => {
    const id = randomUUID();
    await dataSource.query(
      `INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, agent_id, status, requested_at) VALUES ($1, $2, $3, 'manual', $4, 'queued', now())`,
      [id, trackerId, agent.deviceId, agent.id],
    );
    return id;
  };
  const job = async (id: string) => {
    const [row] = await dataSource.query(
      `SELECT j.status, j.started_at,
              (SELECT count(*)::int FROM events e WHERE e.job_id = j.id AND e.details->>'what' = 'scan-started') AS started_events,
              (SELECT count(*)::int FROM agent_uploads u WHERE u.job_id = j.id) AS uploads
         FROM scan_jobs j WHERE j.id = $1`,
      [id],
    );
    return row as { status: string; started_at: Date | null; started_events: number; uploads: number };
  };
  const startedAt = '2026-12-05T10:00:00.000Z';
  const report = (jobId: string) => ({ agent, report: { jobId, trackerId, trigger: 'manual' as const, startedAt } });
  const upload = (jobId: string) => {
    const result = {
      jobId,
      trackerId,
      trigger: 'manual',
      status: 'completed',
      engine: 'ss',
      engineVersion: 'iproute2-6.1',
      args: ['-tulpnH'],
      startedAt: '2026-12-05T10:00:01.000Z',
      finishedAt: '2026-12-05T10:00:01.200Z',
      coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
      hosts: [{ address: '127.0.0.1', hostnames: [], state: 'up', ports: [{ protocol: 'tcp', port: 40001, state: 'open' }] }],
    } as AgentResult;
    return { agent, idempotencyKey: `key-${jobId}`, result, bodyGzip: gzipSync(JSON.stringify(result)) };
  };

  it('writes a batch in its own two statements when nothing changed, with no transaction', async () => {
    const jobId = await queuedJob();
    await expect(starts.accept(report(jobId))).resolves.toEqual({ jobId });
    await expect(uploads.accept(upload(jobId))).resolves.toEqual({ jobId, duplicate: false });
    expect(transactions).toBe(0);
    expect(await job(jobId)).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
  });

  it('does not start a job that failed after the report was read, and announces no start', async () => {
    const jobId = await queuedJob();
    // The scheduler gives up on the job (the agent did not pick it up in time) between the batch's read and its write.
    afterRead = () => dataSource.query(`UPDATE scan_jobs SET status = 'failed', finished_at = now(), error = 'not picked up' WHERE id = $1`, [jobId]);
    await expect(starts.accept(report(jobId))).resolves.toEqual({ jobId });
    expect(transactions).toBe(1);
    expect(await job(jobId)).toMatchObject({ status: 'failed', started_at: null, started_events: 0 });
  });

  it('announces a run once when its start is reported between an upload\'s read and its write', async () => {
    const jobId = await queuedJob();
    // Read while queued (the upload would start the job), then the agent's start report commits.
    afterRead = () => starts.accept(report(jobId));
    await expect(uploads.accept(upload(jobId))).resolves.toEqual({ jobId, duplicate: false });
    expect(transactions).toBe(1);
    const stored = await job(jobId);
    expect(stored).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
    expect(new Date(stored.started_at ?? 0).toISOString()).toBe(startedAt);
  });

  it('answers a replay when the same upload commits between its read and its write', async () => {
    const jobId = await queuedJob();
    const first = upload(jobId);
    // An agent retrying after a timeout: its first try commits meanwhile, through another replica.
    afterRead = () => replica.accept({ ...first });
    await expect(uploads.accept(first)).resolves.toEqual({ jobId, duplicate: true });
    expect(await job(jobId)).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
  });
});
