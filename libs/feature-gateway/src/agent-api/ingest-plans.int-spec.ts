import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { InProcessBus } from '@portolan/bus';
import { AgentResult } from '@portolan/contracts';
import { createLogger } from '@portolan/logging';
import { createDataSource, createTestDatabase, insertTestAgent, migrate } from '@portolan/persistence';
import { AgentUploadOutbox, EventRecorder } from '@portolan/platform';
import { AuthenticatedAgent } from './agent.directory';
import { ScanStartIngest } from './scan-start.ingest';
import { UploadIngest } from './upload.ingest';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
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
  let bus: InProcessBus;
  let uploads: UploadIngest;
  let starts: ScanStartIngest;

  beforeAll(async () => {
    db = await createTestDatabase('portolan_ingest_plans');
    const migrating = await createDataSource({ url: db.url, dataDir: 'unused' }).initialize();
    await migrate(migrating);
    await migrating.destroy();
    // One connection: the statements the ingests prepare are the ones this test explains.
    dataSource = await createDataSource({ url: db.url, dataDir: 'unused', poolSize: 1 }).initialize();
    bus = new InProcessBus('plans-test', quiet);
    await bus.start();
    const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
    const events = new EventRecorder(bus, logger, dataSource);
    uploads = new UploadIngest(dataSource, logger, events, new AgentUploadOutbox(dataSource, bus, logger));
    starts = new ScanStartIngest(dataSource, logger, events);
  }, 60_000);

  afterAll(async () => {
    await uploads?.onModuleDestroy();
    await starts?.onModuleDestroy();
    await bus?.close();
    await dataSource?.destroy();
    await db?.drop();
  });

  it('reads every growing table through an index', async () => {
    const { agentId, deviceId } = await insertTestAgent(dataSource);
    const agent: AuthenticatedAgent = { id: agentId, name: 'h', deviceId, siteId: null, scanner: false };
    const [{ id: trackerId }] = await dataSource.query(
      `INSERT INTO trackers (name, device_id, type, mode, agent_id, port_rules, port_set, schedule, send_baseline_events, tcp_technique, skip_host_discovery, enabled)
       VALUES ('t', $1, 'network-port', 'self', $2, '[]', '{"tcp":[{"from":40000,"to":40100}],"udp":[]}', '{"kind":"interval","every":"1h"}', false, 'auto', false, true) RETURNING id`,
      [deviceId, agentId],
    );
    const queued = async () => {
      const id = randomUUID();
      await dataSource.query(`INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, agent_id, status, requested_at) VALUES ($1, $2, $3, 'manual', $4, 'queued', now())`, [id, trackerId, deviceId, agentId]);
      return id;
    };
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

    // Every statement of both ingests: a start of a queued job, an upload of a run the hub had
    // not heard of (a new job and its scan-started event), an upload of a started run (no event).
    const started = await queued();
    await starts.accept({ agent, report: { jobId: started, trackerId, trigger: 'manual', startedAt: '2026-12-05T10:00:00.000Z' } });
    await uploads.accept(upload(randomUUID()));
    await uploads.accept(upload(started));

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
