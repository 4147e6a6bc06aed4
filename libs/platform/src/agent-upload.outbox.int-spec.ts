import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { gzipSync } from 'node:zlib';
import { AgentResult, Envelope, Messages, ScanCompleted, ScanFailed } from '@portolan/contracts';
import { InProcessBus, Outcomes } from '@portolan/bus';
import { createMigratedTestDatabase, insertTestAgent } from '@portolan/persistence';
import { createLogger } from '@portolan/logging';
import { AgentUploadOutbox, compressPayload } from './agent-upload.outbox';
import { ResultAcceptance } from './agent-result.message';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The outbox of agent results on real Postgres: what a lost publish left behind goes out again. */
describe('AgentUploadOutbox (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;
  let agentId: string;
  let trackerId: string;
  let deviceId: string;

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_outbox');
    dataSource = db.dataSource;
    ({ agentId, deviceId } = await insertTestAgent(dataSource));
    [{ id: trackerId }] = await dataSource.query(
      `INSERT INTO trackers (name, device_id, type, mode, agent_id, port_rules, port_set, schedule, send_baseline_events, tcp_technique, skip_host_discovery, enabled)
       VALUES ('t', $1, 'network-port', 'self', $2, '[]', '{"tcp":[],"udp":[]}', '{"kind":"interval","every":"1h"}', false, 'auto', false, true) RETURNING id`,
      [deviceId, agentId],
    );
  }, 60_000);

  afterAll(async () => {
    await db?.close();
  });

  const completed = (jobId: string): ScanCompleted => ({
    jobId,
    chunkId: randomUUID(),
    trackerId,
    deviceId,
    worker: 'agent:h',
    engine: 'ss',
    engineVersion: 'iproute2-6.1',
    args: ['-tulpnH'],
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:00:00.100Z',
    durationMs: 100,
    coverage: { ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] } },
    hosts: [{ address: '127.0.0.1', hostnames: [], state: 'up', ports: [{ protocol: 'tcp', port: 40001, state: 'open' }] }],
  });

  it('publishes the uploads whose publish was lost, oldest first (bodies as sent, and older compressed and jsonb payloads), marks them, and leaves the rest', async () => {
    const bus = new InProcessBus('outbox-test', quiet);
    await bus.start();
    const outbox = new AgentUploadOutbox(dataSource, bus, createLogger({ service: 'test', version: '0', level: 'silent' }));
    const seen: Envelope<ScanCompleted | ScanFailed>[] = [];
    await bus.consume({ message: Messages.scanCompleted, durable: 'outbox-test-completed' }, async (d) => (seen.push(d.envelope), Outcomes.ack()));
    await bus.consume({ message: Messages.scanFailed, durable: 'outbox-test-failed' }, async (d) => (seen.push(d.envelope), Outcomes.ack()));

    const jobs = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const failed: ScanFailed = { jobId: jobs[2], chunkId: randomUUID(), trackerId, deviceId, worker: 'agent:h', failedAt: '2026-12-01T10:00:01.000Z', error: { code: 'engine_failed', message: 'ss: not found' } };
    const old = new Date(Date.now() - 60_000);
    const insert = (id: string, jobId: string, kind: string, column: 'payload' | 'payload_gzip' | 'body_gzip', value: unknown, receivedAt: Date, publishedAt: Date | null, acceptance: ResultAcceptance | null = null) =>
      dataSource.query(
        `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, ${column}, acceptance, received_at, published_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [id, agentId, `key-${jobId}`, jobId, trackerId, kind, value, acceptance && JSON.stringify(acceptance), receivedAt, publishedAt],
      );
    const ids = jobs.map(() => randomUUID());
    // As the gateway keeps an upload now: the agent's body as sent, and what the hub decided (a self-scan of 127.0.0.1, coverage narrowed to the tracker's ports).
    const sent: AgentResult = {
      jobId: jobs[4], trackerId, trigger: 'schedule', status: 'completed', engine: 'ss', engineVersion: 'iproute2-6.1', args: ['-tulpnH'],
      startedAt: '2026-12-01T10:00:00.000Z', finishedAt: '2026-12-01T10:00:00.100Z', coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
      hosts: [{ address: 'self', hostnames: [], state: 'up', ports: [{ protocol: 'tcp', port: 40001, state: 'open', bindAddress: '0.0.0.0', process: 'nc', pid: 42 }] }],
    };
    const acceptance: ResultAcceptance = { chunkId: randomUUID(), deviceId, worker: 'agent:h', coverage: { tcp: [{ from: 40000, to: 40100 }], udp: [] }, selfAddress: '127.0.0.1' };
    const fromBody: ScanCompleted = {
      jobId: jobs[4], chunkId: acceptance.chunkId, trackerId, deviceId, worker: 'agent:h', engine: 'ss', engineVersion: 'iproute2-6.1', args: ['-tulpnH'],
      startedAt: sent.startedAt, finishedAt: sent.finishedAt, durationMs: 100, coverage: { ports: acceptance.coverage },
      hosts: [{ ...sent.hosts[0], address: '127.0.0.1' }],
    };
    const first = completed(jobs[0]);
    const legacy = completed(jobs[1]);
    await insert(ids[0], jobs[0], 'completed', 'payload_gzip', compressPayload(first), old, null);
    await insert(ids[1], jobs[1], 'completed', 'payload', JSON.stringify(legacy), new Date(old.getTime() + 1), null); // written before compression
    await insert(ids[2], jobs[2], 'failed', 'payload_gzip', compressPayload(failed), new Date(old.getTime() + 2), null);
    await insert(ids[3], jobs[3], 'completed', 'payload_gzip', compressPayload(completed(jobs[3])), old, old); // published already
    await insert(ids[4], jobs[4], 'completed', 'body_gzip', gzipSync(JSON.stringify(sent)), new Date(old.getTime() + 3), null, acceptance);

    expect(await outbox.publishUnpublished(new Date())).toBe(4);
    const deadline = Date.now() + 5_000;
    while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Results and failures go to two consumers; in each, oldest first.
    const byId = new Map(seen.map((e) => [e.id, e.payload]));
    expect(seen.filter((e) => e.payload.jobId !== jobs[2]).map((e) => e.id)).toEqual([ids[0], ids[1], ids[4]]);
    expect([byId.get(ids[0]), byId.get(ids[1]), byId.get(ids[2]), byId.get(ids[4])]).toEqual([first, legacy, failed, fromBody]);
    expect(seen).toHaveLength(4);
    const unpublished = await dataSource.query(`SELECT count(*)::int AS n FROM agent_uploads WHERE published_at IS NULL`);
    expect(unpublished[0].n).toBe(0);
    expect(await outbox.publishUnpublished(new Date())).toBe(0);
    await bus.close();
  }, 30_000);

  it("publishes a body whose run the hub moved onto its clock with the corrected times; leaves a row it cannot read back, and publishes the others", async () => {
    const bus = new InProcessBus('outbox-clock-test', quiet);
    await bus.start();
    const errors: string[] = [];
    const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
    logger.error = ((_fields: unknown, message: string) => void errors.push(message)) as typeof logger.error;
    const outbox = new AgentUploadOutbox(dataSource, bus, logger);
    const seen: Envelope<ScanCompleted | ScanFailed>[] = [];
    await bus.consume({ message: Messages.scanCompleted, durable: 'outbox-clock-test-completed' }, async (d) => (seen.push(d.envelope), Outcomes.ack()));
    const old = new Date(Date.now() - 60_000);
    const upload = async (acceptance: Record<string, unknown>) => {
      const id = randomUUID();
      const jobId = randomUUID();
      // As an agent 3 h behind sent it.
      const sent = {
        jobId, trackerId, trigger: 'schedule', status: 'completed', engine: 'ss', engineVersion: 'iproute2-6.1', args: ['-tulpnH'],
        startedAt: '2026-12-01T07:00:00.000Z', finishedAt: '2026-12-01T07:00:00.400Z', coverage: { ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] } },
        hosts: [{ address: 'self', hostnames: [], state: 'up', ports: [] }],
      };
      await dataSource.query(
        `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, body_gzip, acceptance, received_at) VALUES ($1, $2, $3, $4, $5, 'completed', $6, $7, $8)`,
        [id, agentId, `key-${jobId}`, jobId, trackerId, gzipSync(JSON.stringify(sent)), JSON.stringify({ chunkId: randomUUID(), deviceId, worker: 'agent:h', coverage: { tcp: [{ from: 40000, to: 40100 }], udp: [] }, selfAddress: '127.0.0.1', ...acceptance }), old],
      );
      return id;
    };
    const unreadable = await upload({ clockCorrectionMs: -10_800_000, decidedByAFutureHub: true });
    const corrected = await upload({ clockCorrectionMs: -10_800_000 });

    expect(await outbox.publishUnpublished(new Date())).toBe(1);
    const deadline = Date.now() + 5_000;
    while (seen.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((e) => [e.id, e.payload.startedAt, (e.payload as ScanCompleted).finishedAt, (e.payload as ScanCompleted).durationMs])).toEqual([
      [corrected, '2026-12-01T10:00:00.000Z', '2026-12-01T10:00:00.400Z', 400],
    ]);
    expect(errors).toEqual(['a stored agent result could not be read back; left unpublished']);
    const { rows } = await dataSource.query(`SELECT id FROM agent_uploads WHERE published_at IS NULL AND id = ANY($1)`, [[unreadable, corrected]]).then((r: { id: string }[]) => ({ rows: r }));
    expect(rows.map((r) => r.id)).toEqual([unreadable]);
    await dataSource.query(`DELETE FROM agent_uploads WHERE id = $1`, [unreadable]);
    await bus.close();
  }, 30_000);

  it('does not let any number of unreadable uploads keep the ones behind them back: each sweep goes on where the last stopped, and logs each once', async () => {
    const bus = new InProcessBus('outbox-starve-test', quiet);
    await bus.start();
    const errors: string[] = [];
    const logger = createLogger({ service: 'test', version: '0', level: 'silent' });
    logger.error = ((_fields: unknown, message: string) => void errors.push(message)) as typeof logger.error;
    const outbox = new AgentUploadOutbox(dataSource, bus, logger);
    const seen: string[] = [];
    await bus.consume({ message: Messages.scanCompleted, durable: 'outbox-starve-test-completed' }, async (d) => (seen.push(d.envelope.id), Outcomes.ack()));
    const old = new Date(Date.now() - 60_000);
    // 2,050 rows a newer hub decided (more than a sweep's ten pages of 200), oldest first, then two this version can read.
    const unreadable = Array.from({ length: 2_050 }, () => randomUUID());
    const readable = [randomUUID(), randomUUID()];
    try {
      await dataSource.query(
        `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, payload_gzip, received_at)
         SELECT u.id, $2, 'starve-' || u.id, gen_random_uuid(), $3, 'completed', $4, $5 FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n`,
        [unreadable, agentId, trackerId, gzipSync('{"decidedBy":"a future hub"}'), old],
      );
      for (const id of readable) {
        const jobId = randomUUID();
        await dataSource.query(
          `INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, payload_gzip, received_at) VALUES ($1, $2, $3, $4, $5, 'completed', $6, $7)`,
          [id, agentId, `starve-${id}`, jobId, trackerId, compressPayload(completed(jobId)), old],
        );
      }

      // The first sweep reads ten pages, all unreadable; the next goes on from there.
      expect(await outbox.publishUnpublished(new Date())).toBe(0);
      expect(errors).toHaveLength(2_000);
      expect(await outbox.publishUnpublished(new Date())).toBe(2);
      const deadline = Date.now() + 5_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual(readable);
      expect(errors).toHaveLength(2_050);
      // Later sweeps, from the head again, publish nothing more and log nothing twice.
      expect(await outbox.publishUnpublished(new Date())).toBe(0);
      expect(await outbox.publishUnpublished(new Date())).toBe(0);
      expect(new Set(errors)).toEqual(new Set(['a stored agent result could not be read back; left unpublished']));
      expect(errors).toHaveLength(2_050);
      const [left] = await dataSource.query(`SELECT count(*)::int AS n FROM agent_uploads WHERE published_at IS NULL AND id = ANY($1)`, [[...unreadable, ...readable]]);
      expect(left.n).toBe(2_050);
    } finally {
      await dataSource.query(`DELETE FROM agent_uploads WHERE id = ANY($1)`, [[...unreadable, ...readable]]);
      await bus.close();
    }
  }, 30_000);

  it('refuses a row that has no payload at all, or a body without its acceptance', async () => {
    await expect(
      dataSource.query(`INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, body_gzip, received_at) VALUES ($1, $2, 'k-body', $3, $4, 'completed', '\\x00', now())`, [
        randomUUID(),
        agentId,
        randomUUID(),
        trackerId,
      ]),
    ).rejects.toThrow(/agent_uploads_payload_check/);
    await expect(
      dataSource.query(`INSERT INTO agent_uploads (id, agent_id, idempotency_key, job_id, tracker_id, kind, received_at) VALUES ($1, $2, 'k-none', $3, $4, 'completed', now())`, [
        randomUUID(),
        agentId,
        randomUUID(),
        trackerId,
      ]),
    ).rejects.toThrow(/agent_uploads_payload_check/);
  });
});
