import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventItem, SELF_TRACKER, selfResult, waitFor } from './agent-e2e.support';
import { AgentHttpClient, enrol, TestAgent } from './agent-http.client';
import { ApiClient } from './api.client';
import { freePort, ServiceProcess, sleep } from './service.process';

const OFFLINE_AFTER_MS = 3_000;

/**
 * The agent API of the all-in-one hub: one process, embedded PGlite, in-process bus. The same
 * calls as against Postgres and NATS (agent-api.int-spec.ts), shorter: what differs here is the
 * database driver and the bus, so the agent's whole round trip runs once over both.
 */
describe('agent API on the all-in-one hub (PGlite + in-process bus)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-aio-agent-'));
  let hub: ServiceProcess;
  let api: ApiClient;
  let agent: TestAgent;
  let trackerId = '';

  const events = async (query: string) => (await api.get<{ items: EventItem[] }>(`/events?${query}`)).body.items;

  beforeAll(async () => {
    const port = await freePort();
    hub = new ServiceProcess('hub', 'hub', {
      PORTOLAN_DATA_DIR: dataDir,
      GATEWAY_PLAIN_HTTP: 'true',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(port),
      SCHEDULER_TICK_MS: '500',
      SCHEDULER_AGENT_OFFLINE_AFTER_MS: String(OFFLINE_AFTER_MS),
    });
    await hub.waitForLog('gateway listening', 90_000);
    api = new ApiClient(`http://127.0.0.1:${port}/api`);
    await api.waitForHealth(30_000);
    const http = new AgentHttpClient(`http://127.0.0.1:${port}/api`);
    const token = await api.post('/enrollment-tokens', { name: 'aio', groupRules: [{ field: 'os', pattern: '^linux', group: 'Linux' }] });
    expect(token.status).toBe(201);
    const enrolled = await enrol(http, String(token.body['token']), { name: 'aio-01', hostname: 'aio-01', platform: 'linux', release: '6.1.0' });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body.groups).toEqual(['Linux']);
    agent = new TestAgent(http, enrolled.body);
  }, 120_000);

  afterAll(async () => {
    await hub.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  afterEach(() => {
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) process.stderr.write(`--- hub ---\n${hub.log.slice(-5000)}\n`);
  });

  it('comes online, gets its tracker, and turns a baseline and a change into one added and one removed event', async () => {
    const tracker = await api.post('/trackers', { name: 'own sockets', deviceId: agent.identity.deviceId, ...SELF_TRACKER });
    expect(tracker.status).toBe(201);
    trackerId = String(tracker.body['id']);
    expect((await agent.config<{ trackers: { id: string }[] }>()).body.trackers.map((t) => t.id)).toEqual([trackerId]);
    expect((await agent.poll({ spoolEntries: 2 })).body.jobs).toEqual([]);
    expect((await events(`deviceId=${agent.identity.deviceId}&type=communications`)).map((e) => e.details?.['what'])).toEqual(['agent-online']);
    expect((await api.get(`/agents/${agent.id}`)).body).toMatchObject({ status: 'online', spool: { entries: 2, dropped: 0 } });
    expect((await api.get<{ items: { id: string }[] }>('/agents?spooling=true&q=AIO-0')).body.items.map((a) => a.id)).toEqual([agent.id]);
    expect((await api.get('/agents/-/summary')).body).toMatchObject({ total: 1, byStatus: { online: 1 }, byVersion: [{ version: agent.version, agents: 1 }], spool: { agents: 1, entries: 2, dropped: 0 } });

    const job1 = randomUUID();
    expect((await agent.upload(selfResult(job1, trackerId, [{ port: 40010 }]), { gzip: true })).status).toBe(202);
    expect((await api.waitForJob(job1, 30_000))['status']).toBe('succeeded');
    const job2 = randomUUID();
    const key = randomUUID();
    const second = selfResult(job2, trackerId, [{ port: 40011 }]);
    expect((await agent.upload(second, { idempotencyKey: key })).status).toBe(202);
    expect((await api.waitForJob(job2, 30_000))['status']).toBe('succeeded');
    const changes = await events(`trackerId=${trackerId}&type=added,removed,modified`);
    expect(changes.map((e) => `${e.kind} ${e.protocol}/${e.port}`).sort()).toEqual(['added tcp/40011', 'removed tcp/40010']);

    const replay = await agent.upload(second, { idempotencyKey: key });
    expect(replay).toMatchObject({ status: 200, body: { jobId: job2, duplicate: true } });
    await sleep(500);
    expect(await events(`trackerId=${trackerId}&type=added,removed,modified`)).toHaveLength(2);
  }, 60_000);

  it('hands a run asked through the API to a poll in progress', async () => {
    const waiting = agent.poll({ wait: 20 });
    await sleep(300);
    const run = await api.post(`/trackers/${trackerId}/run`, {});
    expect(run.status).toBe(202);
    expect((await waiting).body.jobs).toEqual([{ jobId: run.body['jobId'], trackerId, trigger: 'manual' }]);
    expect((await agent.poll()).body.jobs).toEqual([]);
  }, 30_000);

  it('goes offline after a silence and online again with its next poll', async () => {
    const whats = async () =>
      (await events(`deviceId=${agent.identity.deviceId}&type=communications`))
        .map((e) => String(e.details?.['what']))
        .filter((what) => what.startsWith('agent-'))
        .reverse();
    await waitFor('agent-offline event', whats, (w) => w.includes('agent-offline'), OFFLINE_AFTER_MS + 10_000);
    expect((await api.get(`/agents/${agent.id}`)).body['status']).toBe('offline');
    expect((await agent.poll()).status).toBe(200);
    expect(await waitFor('agent-online again', whats, (w) => w.length === 3, 5_000)).toEqual(['agent-online', 'agent-offline', 'agent-online']);
  }, 30_000);

  it('refuses a revoked agent', async () => {
    expect((await api.post(`/agents/${agent.id}/revoke`, {})).status).toBe(200);
    const refused = await agent.poll();
    expect(refused.status).toBe(401);
    expect(refused.text).toMatch(/is revoked/);
  }, 30_000);
});
