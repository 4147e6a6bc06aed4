import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { expectEventCountsAgree, SELF_TRACKER, selfResult, waitFor } from './agent-e2e.support';
import { AgentHttpClient, enrol, TestAgent } from './agent-http.client';
import { ApiClient } from './api.client';
import { DistributedHub } from './distributed.hub';
import { sleep } from './service.process';

const AGENTS = 8;
const RUNS = 10;
/** Runs the hub asks for through the API (the others are the agents' own schedule). */
const ASKED = new Set([3, 7]);

/** The ports agent `a` finds open in its run `k`: one that never changes, two that come and go. */
const portsOf = (a: number, k: number) => [40000 + a, 40020 + (k % 3), 40040 + ((k * 7 + a) % 5)];

interface Run {
  readonly jobId: string;
  readonly ports: number[];
}

/**
 * Agent runs under contention: two gateway replicas, the scheduler and the comparer as their
 * own processes over the real Postgres and NATS JetStream; eight agents each run ten runs back
 * to back, and send each scan-start report and each upload to both replicas at once (an agent
 * retrying after a timeout, through a load balancer), two of the runs asked through the API.
 * Meanwhile the comparer applies each agent's last result, under its tracker's lock, while
 * that agent's next run is being written. The ingests and the comparer take their locks in
 * orders meant to make a deadlock impossible: none may happen (Postgres's own count, and the
 * processes' logs), and every run is stored once, started once, and applied once, in order.
 */
describe('agent runs under contention (two gateways + scheduler + comparer, Postgres + NATS JetStream)', () => {
  let hub: DistributedHub;
  let sql: Client;
  let api: ApiClient;
  const gateways: AgentHttpClient[] = [];

  const deadlocks = async () => Number((await sql.query(`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`)).rows[0].deadlocks);

  beforeAll(async () => {
    hub = await DistributedHub.create('portolan_e2e_contention', { GATEWAY_AGENT_RATE_BURST: '1000', GATEWAY_AGENT_RATE_PER_SECOND: '100' });
    sql = hub.sql;
    for (const n of [1, 2]) gateways.push(new AgentHttpClient((await hub.gateway(`gateway-${n}`)).url));
    api = new ApiClient(gateways[0].baseUrl);
    await hub.start('scheduler', 'comparer');
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
  }, 60_000);

  it('stores, starts and applies every run once, in order, without a deadlock', async () => {
    const token = await api.post('/enrollment-tokens', { name: 'contention', maxUses: AGENTS });
    expect(token.status).toBe(201);
    const fleet: { agents: TestAgent[]; trackerId: string; deviceId: string }[] = [];
    for (let a = 0; a < AGENTS; a++) {
      const name = `ct-${String(a + 1).padStart(2, '0')}`;
      const enrolled = await enrol(gateways[0], String(token.body['token']), { name, hostname: name, platform: 'linux', release: '6.1.0' });
      expect(enrolled.status).toBe(201);
      const tracker = await api.post('/trackers', { name: `${name} sockets`, deviceId: enrolled.body.deviceId, ...SELF_TRACKER });
      expect(tracker.status).toBe(201);
      const agent = new TestAgent(gateways[0], enrolled.body);
      fleet.push({ agents: [agent, agent.via(gateways[1])], trackerId: String(tracker.body['id']), deviceId: enrolled.body.deviceId });
    }
    const deadlocksBefore = await deadlocks();
    // Every run observed in the past, one second apart, so each is newer than the last applied.
    const base = Date.now() - 60_000;

    /** One agent's runs, back to back, each report and upload sent through both gateways at once. */
    const runAll = async (a: number): Promise<Run[]> => {
      const { agents, trackerId } = fleet[a];
      const runs: Run[] = [];
      for (let k = 0; k < RUNS; k++) {
        let jobId: string = randomUUID();
        let trigger = 'schedule';
        if (ASKED.has(k)) {
          const asked = await api.post(`/trackers/${trackerId}/run`, {});
          expect(asked.status).toBe(202);
          const polled = await agents[k % 2].poll({ wait: 10 });
          expect(polled.body.jobs).toEqual([{ jobId: asked.body['jobId'], trackerId, trigger: 'manual' }]);
          jobId = String(asked.body['jobId']);
          trigger = 'manual';
        }
        const startedAt = new Date(base + k * 1_000 + a).toISOString();
        const reports = await Promise.all(agents.map((agent) => agent.started({ jobId, trackerId, trigger, startedAt })));
        expect(reports.map((r) => r.status)).toEqual([202, 202]);
        const ports = portsOf(a, k);
        const result = selfResult(jobId, trackerId, ports.map((port) => ({ port })), { trigger, startedAt, finishedAt: new Date(base + k * 1_000 + a + 500).toISOString() });
        const key = `run-${jobId}`;
        const uploads = await Promise.all(agents.map((agent, i) => agent.upload(result, { idempotencyKey: key, gzip: i === 0 })));
        expect(uploads.map((u) => [u.status, u.body]).sort()).toEqual([
          [200, { jobId, duplicate: true }],
          [202, { jobId, duplicate: false }],
        ]);
        runs.push({ jobId, ports });
      }
      return runs;
    };

    await hub.logsOnFailure(async () => {
      const runs = await Promise.all(fleet.map((_, a) => runAll(a)));
      const jobIds = runs.flat().map((r) => r.jobId);
      const settled = () =>
        sql
          .query(`SELECT status, count(*)::int AS n FROM scan_jobs WHERE id = ANY($1) GROUP BY status ORDER BY status`, [jobIds])
          .then((r) => Object.fromEntries(r.rows.map((row: { status: string; n: number }) => [row.status, row.n])));
      expect(await waitFor('every run applied', settled, (by) => by['succeeded'] === jobIds.length, 60_000)).toEqual({ succeeded: AGENTS * RUNS });

      // Each run once: one upload, one chunk, one scan-started and one scan-finished event.
      const { rows: perJob } = await sql.query(
        `SELECT (SELECT count(*)::int FROM agent_uploads u WHERE u.job_id = j.id) AS uploads,
                (SELECT count(*)::int FROM scan_chunks c WHERE c.job_id = j.id) AS chunks,
                (SELECT count(*)::int FROM events e WHERE e.job_id = j.id AND e.details->>'what' = 'scan-started') AS started,
                (SELECT count(*)::int FROM events e WHERE e.job_id = j.id AND e.details->>'what' = 'scan-finished') AS finished
           FROM scan_jobs j WHERE j.id = ANY($1)`,
        [jobIds],
      );
      expect(perJob).toEqual(jobIds.map(() => ({ uploads: 1, chunks: 1, started: 1, finished: 1 })));

      // Applied in order: each tracker's changes are exactly those from each run to the next (the first is its baseline).
      for (const [a, { trackerId, deviceId }] of fleet.entries()) {
        const expected: string[] = [];
        for (let k = 1; k < RUNS; k++) {
          const [before, after] = [runs[a][k - 1].ports, runs[a][k].ports];
          for (const port of after.filter((p) => !before.includes(p))) expected.push(`added ${port} ${runs[a][k].jobId}`);
          for (const port of before.filter((p) => !after.includes(p))) expected.push(`removed ${port} ${runs[a][k].jobId}`);
        }
        const { rows } = await sql.query(`SELECT kind, (coalesce(after, before)->>'port')::int AS port, job_id FROM events WHERE tracker_id = $1 AND kind IN ('added', 'removed', 'modified')`, [trackerId]);
        expect(rows.map((e: { kind: string; port: number; job_id: string }) => `${e.kind} ${e.port} ${e.job_id}`).sort()).toEqual(expected.sort());
        const current = await api.get<{ items: { port: number }[] }>(`/devices/${deviceId}/ports`);
        expect(current.body.items.map((p) => p.port).sort()).toEqual([...runs[a][RUNS - 1].ports].sort());
      }
      await expectEventCountsAgree(sql);

      // No deadlock: Postgres counts them (a backend reports its counters within a second or so of going idle) ...
      await sleep(2_000);
      expect((await deadlocks()) - deadlocksBefore).toBe(0);
      // ... and the gateways and the comparer would have logged one they recovered from.
      expect(hub.processes.filter((p) => /deadlock/i.test(p.log)).map((p) => p.name)).toEqual([]);
    });
  }, 180_000);
});
