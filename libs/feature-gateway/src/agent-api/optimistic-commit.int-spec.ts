import { DataSource, QueryRunner } from 'typeorm';
import { createMigratedTestDatabase } from '@portolan/persistence';
import { IngestFixture, startIngests } from './testing/ingest.fixture';
import { ScanStartIngest } from './scan-start.ingest';
import { UploadIngest } from './upload.ingest';

/**
 * The agent ingests' optimistic commit on real Postgres: a batch is read without locks and
 * written in one statement that first checks its jobs are as read. When something changed the
 * job in between (here, a statement run by the test right after the batch's read), the write
 * is undone whole and the batch decided again under the job locks, so nothing is started or
 * announced twice and nothing finished is started again.
 */
describe('agent ingests, optimistic commit (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;
  let fixture: IngestFixture;
  let uploads: UploadIngest;
  /** A second gateway replica's ingest. */
  let replica: UploadIngest;
  let starts: ScanStartIngest;
  let close: () => Promise<void>;
  let transactions: number;
  /** Run once, after the next statement outside a transaction (the batch's read) has ended. */
  let afterRead: (() => Promise<unknown>) | undefined;

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_optimistic');
    dataSource = db.dataSource;
    fixture = await IngestFixture.create(dataSource);
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
    ({ uploads: [uploads, replica], starts, close } = await startIngests(dataSource, 'optimistic-test', 2));
  }, 60_000);

  afterAll(async () => {
    await close?.();
    await db?.close();
  });

  beforeEach(() => {
    transactions = 0;
    afterRead = undefined;
  });

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

  it('writes a batch in its own two statements when nothing changed, with no transaction', async () => {
    const jobId = await fixture.queuedJob();
    await expect(starts.accept(fixture.report(jobId, startedAt))).resolves.toEqual({ jobId });
    await expect(uploads.accept(fixture.upload(jobId))).resolves.toEqual({ jobId, duplicate: false });
    expect(transactions).toBe(0);
    expect(await job(jobId)).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
  });

  it('does not start a job that failed after the report was read, and announces no start', async () => {
    const jobId = await fixture.queuedJob();
    // The scheduler gives up on the job (the agent did not pick it up in time) between the batch's read and its write.
    afterRead = () => dataSource.query(`UPDATE scan_jobs SET status = 'failed', finished_at = now(), error = 'not picked up' WHERE id = $1`, [jobId]);
    await expect(starts.accept(fixture.report(jobId, startedAt))).resolves.toEqual({ jobId });
    expect(transactions).toBe(1);
    expect(await job(jobId)).toMatchObject({ status: 'failed', started_at: null, started_events: 0 });
  });

  it("announces a run once when its start is reported between an upload's read and its write", async () => {
    const jobId = await fixture.queuedJob();
    // Read while queued (the upload would start the job), then the agent's start report commits.
    afterRead = () => starts.accept(fixture.report(jobId, startedAt));
    await expect(uploads.accept(fixture.upload(jobId))).resolves.toEqual({ jobId, duplicate: false });
    expect(transactions).toBe(1);
    const stored = await job(jobId);
    expect(stored).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
    expect(new Date(stored.started_at ?? 0).toISOString()).toBe(startedAt);
  });

  it('answers a replay when the same upload commits between its read and its write', async () => {
    const jobId = await fixture.queuedJob();
    const first = fixture.upload(jobId);
    // An agent retrying after a timeout: its first try commits meanwhile, through another replica.
    afterRead = () => replica.accept({ ...first });
    await expect(uploads.accept(first)).resolves.toEqual({ jobId, duplicate: true });
    expect(await job(jobId)).toMatchObject({ status: 'running', started_events: 1, uploads: 1 });
  });
});
