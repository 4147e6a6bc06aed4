import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createDataSource, createTestDatabase, migrate } from '@portolan/persistence';
import { IngestFixture, startIngests } from './testing/ingest.fixture';
import { ScanStartIngest } from './scan-start.ingest';
import { UploadIngest } from './upload.ingest';

/** The tables that grow with every run: a scan of one of them would cost more with every upload. */
const GROWING = /Seq Scan on (scan_jobs|scan_chunks|agent_uploads|events\w*|event_counts\w*|trackers|devices|agents)\b/;

/**
 * The agent ingests' statements are prepared once a connection and keep their generic plan
 * (`queryPrepared`): a plan made while the tables were empty is the plan for a million rows.
 * Made on an empty database, every plan must reach the growing tables through an index. (A
 * join of `unnest` or `jsonb_to_recordset` with a table was planned as a hash join over a
 * sequential scan of it; the bench's first phase read scan_jobs whole 3,165 times.)
 */
describe('agent ingests, plans made on empty tables (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataSource: DataSource;
  let uploads: UploadIngest;
  let starts: ScanStartIngest;
  let close: () => Promise<void>;

  beforeAll(async () => {
    db = await createTestDatabase('portolan_ingest_plans');
    const migrating = await createDataSource({ url: db.url, dataDir: 'unused' }).initialize();
    await migrate(migrating);
    await migrating.destroy();
    // One connection: the statements the ingests prepare are the ones this test explains.
    dataSource = await createDataSource({ url: db.url, dataDir: 'unused', poolSize: 1 }).initialize();
    ({ uploads: [uploads], starts, close } = await startIngests(dataSource, 'plans-test'));
  }, 60_000);

  afterAll(async () => {
    await close?.();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('reads every growing table through an index', async () => {
    const fixture = await IngestFixture.create(dataSource);
    // Every statement of both ingests: a start of a queued job, an upload of a run the hub had
    // not heard of (a new job and its scan-started event), an upload of a started run (no event).
    const started = await fixture.queuedJob();
    await starts.accept(fixture.report(started, '2026-12-05T10:00:00.000Z'));
    await uploads.accept(fixture.upload(randomUUID()));
    await uploads.accept(fixture.upload(started));

    const prepared: { name: string; parameter_types: string }[] = await dataSource.query(`SELECT name, parameter_types::text FROM pg_prepared_statements ORDER BY name`);
    expect(prepared.length).toBeGreaterThanOrEqual(4);
    const plans = new Map<string, string>();
    for (const { name, parameter_types } of prepared) {
      const count = parameter_types.replace(/^\{|\}$/g, '').split(',').filter(Boolean).length;
      const rows: { 'QUERY PLAN': string }[] = await dataSource.query(`EXPLAIN EXECUTE ${name}(${Array(count).fill('NULL').join(', ')})`);
      plans.set(name, rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    const scanning = [...plans].filter(([, plan]) => GROWING.test(plan)).map(([name, plan]) => `${name}:\n${plan}`);
    expect(scanning).toEqual([]);
  });
});
