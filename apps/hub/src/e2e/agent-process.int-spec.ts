import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { AGENT_FEATURES, AGENT_VERSION } from '@portolan/feature-agent';
import { createTestDatabase } from '@portolan/persistence';
import { REMOTE_TRACKER } from './agent-e2e.support';
import { ApiClient } from './api.client';
import { LoopbackListeners } from './loopback.listeners';
import { freePort, ServiceProcess, sleep } from './service.process';

interface EventItem {
  kind: string;
  trackerId: string | null;
  jobId: string | null;
  itemKey: string | null;
  port: number | null;
  details: Record<string, unknown> | null;
  occurredAt: string;
}

/**
 * Real agent PROCESSES against the distributed hub (gateway over HTTPS with its self-signed
 * certificate pinned by the agents, scheduler, comparer; Postgres and NATS JetStream): a
 * self-scanning agent, the hub going away while the agent keeps scanning, and a scanning agent
 * running a network scan of a 127.0.0.x range. The self-scans' ports lie below the ephemeral
 * range (`LoopbackListeners`).
 */
describe('agents against the distributed hub (HTTPS, Postgres, NATS JetStream)', () => {
  const listeners = new LoopbackListeners();
  const processes: ServiceProcess[] = [];
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-agent-e2e-'));
  let gateway: ServiceProcess;
  let gatewayEnv: Record<string, string>;
  let api: ApiClient;
  let fingerprint: string;
  let hubUrl: string;
  let sql: Client;
  let dropDatabase: () => Promise<void> = async () => undefined;

  const startGateway = async () => {
    gateway = new ServiceProcess('gateway', 'gateway', gatewayEnv);
    processes.push(gateway);
    await gateway.waitForLog('gateway listening', 60_000);
    await api.waitForHealth(30_000);
  };

  const startAgent = (name: string, token: string, extra: Record<string, string> = {}, command = 'run') => {
    const agent = new ServiceProcess(name, 'agent', {
      PORTOLAN_HUB_URL: `${hubUrl}/`,
      PORTOLAN_ENROL_TOKEN: token,
      PORTOLAN_HUB_PIN_SHA256: fingerprint,
      PORTOLAN_AGENT_STATE_DIR: join(dataDir, name),
      PORTOLAN_AGENT_POLL_WAIT_SECONDS: '5',
      ...extra,
    }, [command]);
    processes.push(agent);
    return agent;
  };

  const newToken = async (body: Record<string, unknown> = {}) => {
    const { status, body: token } = await api.post('/enrollment-tokens', { name: `token-${randomBytes(2).toString('hex')}`, maxUses: 5, ...body });
    expect(status).toBe(201);
    return String(token['token']);
  };

  const agentByName = async (name: string) => {
    const { body } = await api.get<{ items: { id: string; name: string; deviceId: string; status: string; spool: { entries: number } }[] }>('/agents?limit=100');
    return body.items.find((a) => a.name === name);
  };

  const changeEvents = async (trackerId: string): Promise<EventItem[]> => {
    const { body } = await api.get<{ items: EventItem[] }>(`/events?trackerId=${trackerId}&type=added,removed,modified&limit=500`);
    return body.items.reverse();
  };

  const finishedJobs = async (trackerId: string): Promise<number> => {
    const { rows } = await sql.query(`SELECT count(*)::int AS n FROM scan_jobs WHERE tracker_id = $1 AND status IN ('succeeded', 'failed', 'partial')`, [trackerId]);
    return rows[0].n as number;
  };

  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${processes.map((p) => `--- ${p.name}\n${p.log.slice(-1500)}`).join('\n')}`);
      await sleep(250);
    }
  };

  /** `portolan-agent status` on the agent's state directory, beside the running agent: its exit code and its report. */
  const statusOf = async (name: string, token: string) => {
    const status = startAgent(name, token, {}, 'status');
    await waitFor('the status command to exit', async () => status.exitCode !== null, 30_000);
    const report = JSON.parse(status.log.slice(status.log.indexOf('{'))) as {
      ok: boolean;
      version: string;
      features: string[];
      identity: { agentId: string } | null;
      cachedConfig: { version: number; trackers: number } | null;
      spool: { entries: number; bytes: number; lockedBy: { pid: number; running: boolean } | null };
      hub: { reachable: boolean; configVersion?: number; error?: string };
    };
    return { code: status.exitCode, report, text: status.log };
  };

  /** Runs of the tracker the agent logged as finished, optionally only those finished at or after `sinceMs`. */
  const runsLogged = (agent: ServiceProcess, trackerId: string, sinceMs = 0) =>
    agent.log
      .split('\n')
      .filter((line) => line.includes('"run finished"') && line.includes(trackerId))
      .filter((line) => !sinceMs || Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '') >= sinceMs).length;

  beforeAll(async () => {
    const db = await createTestDatabase('portolan_agent_e2e');
    dropDatabase = db.drop;
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const port = await freePort();
    hubUrl = `https://127.0.0.1:${port}/api`;
    const env = { DATABASE_URL: db.url, NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', PORTOLAN_DATA_DIR: join(dataDir, 'hub'), SCHEDULER_TICK_MS: '500' };
    gatewayEnv = { ...env, GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port) };
    gateway = new ServiceProcess('gateway', 'gateway', gatewayEnv);
    processes.push(gateway);
    await gateway.waitForLog('gateway listening', 60_000);
    fingerprint = /"fingerprint":"([0-9A-F:]+)"/.exec(gateway.log)![1];
    api = new ApiClient(hubUrl, readFileSync(join(dataDir, 'hub', 'tls', 'gateway.crt')));
    await api.waitForHealth(30_000);
    const others = [new ServiceProcess('scheduler', 'scheduler', env), new ServiceProcess('comparer', 'comparer', env)];
    processes.push(...others);
    await Promise.all(others.map((p) => p.waitForLog('service started')));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await listeners.closeAll();
    await sql?.end();
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('enrols, self-scans at agent startup, and turns an opened and a closed listener into exactly one added and one removed event', async () => {
    // This machine's distribution, as its os-release names it: a rule can place hosts by it.
    const distribution = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1];
    const token = await newToken({
      groupRules: [
        { field: 'os', pattern: 'linux', group: 'Linux hosts' },
        { field: 'os', pattern: distribution.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), group: 'This distribution' },
      ],
    });
    const name = `self-${randomBytes(2).toString('hex')}`;
    const enrol = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` }, 'enrol');
    await enrol.waitForLog('agent enrolled', 30_000);
    expect(enrol.log).toContain('"groups":["Linux hosts","This distribution"]');
    const agent = await waitFor('the enrolled agent', async () =>
      (await api.get<{ items: { id: string; name: string; deviceId: string; status: string; os: { description: string } }[] }>('/agents')).body.items.find((a) => a.name.endsWith(`-${name}`)),
    );
    expect(agent.status).toBe('enrolled');
    expect(agent.os.description.startsWith(`${distribution}; Linux `)).toBe(true);

    await listeners.open('127.0.0.61', 30610);
    const { status, body: tracker } = await api.post('/trackers', {
      name: 'own listening ports',
      deviceId: agent.deviceId,
      type: 'network-port',
      mode: 'self',
      ports: [{ range: '30600-30700', protocol: 'tcp' }],
      schedule: { kind: 'at-agent-startup' },
      sendBaselineEvents: false,
    });
    expect(status).toBe(201);
    const trackerId = String(tracker['id']);

    const running = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` });
    await waitFor('the startup baseline', async () => (await finishedJobs(trackerId)) === 1);
    const ports = await api.get<{ items: { port: number }[] }>(`/devices/${agent.deviceId}/ports`);
    expect(ports.body.items.map((p) => p.port)).toContain(30610);

    await listeners.open('127.0.0.61', 30611);
    await listeners.close('127.0.0.61', 30610);
    const run = await api.post(`/trackers/${trackerId}/run`, {});
    expect(run.status).toBe(202);
    await api.waitForJob(String(run.body['jobId']), 60_000);
    const events = await changeEvents(trackerId);
    expect(events.map((e) => `${e.kind} ${e.itemKey}`)).toEqual(expect.arrayContaining(['added tcp/30611@127.0.0.61', 'removed tcp/30610@127.0.0.61']));
    expect(events).toHaveLength(2);
    expect((await agentByName(`${agent.name}`))?.status).toBe('online');
    expect(running.log).toContain('"trigger":"agent-startup"');

    // SIGTERM cuts the long poll short: the agent exits cleanly at once, not after its 5 s wait.
    const stopping = Date.now();
    await running.stop();
    expect(running.exitCode).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(2_500);
  }, 150_000);

  it('keeps scanning while the hub is unreachable and delivers every result once, in order, with the same events', async () => {
    const token = await newToken();
    const name = `spool-${randomBytes(2).toString('hex')}`;
    const agentProcess = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` });
    const agent = await waitFor('the agent', async () => (await api.get<{ items: { id: string; name: string; deviceId: string }[] }>('/agents')).body.items.find((a) => a.name.endsWith(`-${name}`)));
    await listeners.open('127.0.0.62', 30801);
    const { body: tracker } = await api.post('/trackers', {
      name: 'every ten seconds',
      deviceId: agent.deviceId,
      type: 'network-port',
      mode: 'self',
      ports: [{ range: '30800-30900', protocol: 'tcp' }],
      schedule: { kind: 'interval', every: '10s' },
      sendBaselineEvents: false,
    });
    const trackerId = String(tracker['id']);
    await waitFor('the baseline', async () => (await finishedJobs(trackerId)) >= 1);

    await gateway.stop();
    // Each change must be seen by a run of its own: wait for a run that finished at least a
    // second after the change (ss takes milliseconds, runs are 10 s apart), so it started after it.
    const step = async (change: () => Promise<void>) => {
      const changedAt = Date.now();
      await change();
      await waitFor('a run after the change while the hub is away', async () => runsLogged(agentProcess, trackerId, changedAt + 1000) > 0, 30_000);
    };
    await step(() => listeners.open('127.0.0.62', 30802));
    await step(() => listeners.close('127.0.0.62', 30801));
    await step(() => listeners.open('127.0.0.62', 30803));
    expect(agentProcess.log).toContain('hub unreachable');
    // An operator on the host asks: the hub away, results in the spool, the spool held by the running agent; the secret never shown.
    const secret = (JSON.parse(readFileSync(join(dataDir, name, 'identity.json'), 'utf8')) as { secret: string }).secret;
    const away = await statusOf(name, token);
    expect(away.code).toBe(1);
    expect(away.report).toMatchObject({ ok: false, identity: { agentId: agent.id }, cachedConfig: { trackers: 1 }, hub: { reachable: false, error: expect.stringMatching(/ECONNREFUSED/) } });
    expect(away.report.spool.entries).toBeGreaterThanOrEqual(1);
    expect(away.report.spool.lockedBy).toEqual({ pid: expect.any(Number), running: true });
    expect(away.text).not.toContain(secret);

    // The agent restarts too while the hub is away: the spool and the cached configuration
    // survive, and the restarted agent scans again (nothing changed, so no new events).
    await agentProcess.stop();
    const restarted = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` });
    await waitFor('a run of the restarted agent', async () => runsLogged(restarted, trackerId) >= 1, 30_000);
    expect(restarted.log).toMatch(/"spooled":[1-9]/);

    await startGateway();
    // Every run is one job: all of them, from both agent processes, end up applied.
    const allRuns = () => runsLogged(agentProcess, trackerId) + runsLogged(restarted, trackerId);
    await waitFor('every spooled result applied', async () => (await finishedJobs(trackerId)) >= allRuns() && (await agentByName(agent.name))?.spool.entries === 0, 90_000);
    expect(await finishedJobs(trackerId)).toBeGreaterThanOrEqual(5);
    await sleep(1000);
    const events = await changeEvents(trackerId);
    expect(events.map((e) => `${e.kind} ${e.port}`)).toEqual(['added 30802', 'removed 30801', 'added 30803']);
    const { rows } = await sql.query(`SELECT job_id, count(*)::int AS n FROM agent_uploads WHERE tracker_id = $1 GROUP BY job_id HAVING count(*) > 1`, [trackerId]);
    expect(rows).toEqual([]);
    // And again, the hub back and the spool drained.
    const back = await statusOf(name, token);
    expect(back.code).toBe(0);
    expect(back.report).toMatchObject({ ok: true, version: AGENT_VERSION, features: AGENT_FEATURES, identity: { agentId: agent.id }, spool: { entries: 0, lockedBy: { running: true } }, hub: { reachable: true } });
    expect(back.report.hub.configVersion).toBe(back.report.cachedConfig?.version);
    // The hub keeps what the program said of itself.
    expect((await api.get(`/agents/${agent.id}`)).body).toMatchObject({ version: AGENT_VERSION, features: [...AGENT_FEATURES].sort() });
  }, 240_000);

  /** A scanning agent process of its own, once the hub lists it. */
  const startScanningAgent = async (prefix: string, extra: Record<string, string> = {}) => {
    const token = await newToken({ scanner: true });
    const name = `${prefix}-${randomBytes(2).toString('hex')}`;
    const agentProcess = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}`, PORTOLAN_AGENT_SCANNER: 'true', ...extra });
    const agent = await waitFor('the scanning agent', async () => (await api.get<{ items: { id: string; name: string; scanner: boolean }[] }>('/agents')).body.items.find((a) => a.name.endsWith(`-${name}`)));
    return { agent, agentProcess };
  };

  /** A remote scan by the agent over TCP 40000-40100, run when asked (its cron comes once a year), unless `extra` says otherwise. */
  const scanTracker = async (agentId: string, deviceId: unknown, name: string, extra: Record<string, unknown> = {}) => {
    const { status, body } = await api.post('/trackers', { name, deviceId, agentId, ...REMOTE_TRACKER, ...extra });
    expect(status).toBe(201);
    return String(body['id']);
  };

  const configApplied = (agent: ServiceProcess, trackers: number) => async () => agent.log.split('\n').some((line) => line.includes('"configuration applied"') && line.includes(`"trackers":${trackers}`));

  it('lets a scanning agent run a network scan of a 127.0.0.x range', async () => {
    const { agent } = await startScanningAgent('scan');
    expect(agent.scanner).toBe(true);
    await listeners.open('127.0.0.71', 40050);
    await listeners.open('127.0.0.72', 40060);
    const device = await api.post('/devices', { name: 'lab range', kind: 'network', address: '127.0.0.70-73' });
    const trackerId = await scanTracker(agent.id, device.body['id'], 'lab range from the agent', { mode: 'network', schedule: { kind: 'interval', every: '1h' } });
    await waitFor('the network baseline', async () => (await finishedJobs(trackerId)) === 1, 90_000);

    await listeners.open('127.0.0.73', 40070);
    await listeners.close('127.0.0.71', 40050);
    const run = await api.post(`/trackers/${trackerId}/run`, {});
    const job = await api.waitForJob(String(run.body['jobId']), 90_000);
    expect(job['status']).toBe('succeeded');
    const events = await changeEvents(trackerId);
    expect(events.map((e) => `${e.kind} ${e.itemKey}`).sort()).toEqual(['added tcp/40070', 'removed tcp/40050']);
  }, 180_000);

  it("shows the progress of a scanning agent's long scan while it runs (a scan paced by its tracker)", async () => {
    const { agent, agentProcess } = await startScanningAgent('slow', { PORTOLAN_AGENT_PROGRESS_SECONDS: '1' });
    await listeners.open('127.0.0.76', 40076);
    const device = await api.post('/devices', { name: 'slow link host', kind: 'host', address: '127.0.0.76' });
    // 101 ports at 20 probes a second: some five seconds, so nmap says how far it is (every 2 s) and the agent passes it on (every 1 s here).
    const trackerId = await scanTracker(agent.id, device.body['id'], 'paced scan from the agent', { maxRate: 20 });
    await waitFor("the tracker in the agent's configuration", configApplied(agentProcess, 1));

    const run = await api.post(`/trackers/${trackerId}/run`, {});
    const { job, runningProgress } = await api.followJob(String(run.body['jobId']), 90_000);
    expect(job['status']).toBe('succeeded');
    expect(runningProgress.some((p) => p > 0 && p < 100)).toBe(true);
    expect(job['progressAt']).not.toBeNull();
    expect((job['scans'] as { args: string[] }[])[0].args.join(' ')).toContain('--max-rate 20');
    const ports = await api.get<{ items: { port: number }[] }>(`/devices/${device.body['id']}/ports`);
    expect(ports.body.items.map((p) => p.port)).toEqual([40076]);
  }, 180_000);

  it('does not run a run it queued behind a long scan once the hub disabled its tracker; the hub cancelled it', async () => {
    const { agent, agentProcess } = await startScanningAgent('queue');
    const device = await api.post('/devices', { name: 'queue host', kind: 'host', address: '127.0.0.77' });
    // 101 ports at 10 a second: some ten seconds for the second run to wait behind.
    const slow = await scanTracker(agent.id, device.body['id'], 'slow scan', { maxRate: 10 });
    const next = await scanTracker(agent.id, device.body['id'], 'next scan');
    await waitFor("both trackers in the agent's configuration", configApplied(agentProcess, 2));
    const status = async (jobId: string) => String((await api.get(`/jobs/${jobId}`)).body['status']);

    const slowRun = String((await api.post(`/trackers/${slow}/run`, {})).body['jobId']);
    await waitFor('the slow scan to start', async () => (await status(slowRun)) === 'running');
    const nextRun = String((await api.post(`/trackers/${next}/run`, {})).body['jobId']);
    await waitFor('the agent to pick up the next run', async () => (await status(nextRun)) === 'queued');
    expect((await api.patch(`/trackers/${next}`, { enabled: false })).status).toBe(200);
    expect(await status(slowRun)).toBe('running');
    expect((await api.get(`/jobs/${nextRun}`)).body).toMatchObject({ status: 'failed', error: 'cancelled: the tracker was disabled before its agent started the run' });

    expect((await api.waitForJob(slowRun, 90_000))['status']).toBe('succeeded');
    // Its turn came: the agent passes it over (or, wrongly, runs it).
    const turn = await waitFor('the next run to have its turn', async () => agentProcess.log.split('\n').find((line) => line.includes(nextRun) && (line.includes('its tracker is no longer in the configuration') || line.includes('"run finished"'))));
    expect(turn).toContain('run not started: its tracker is no longer in the configuration');
    expect(runsLogged(agentProcess, next)).toBe(0);
    expect((await api.get(`/jobs/${nextRun}`)).body).toMatchObject({ status: 'failed' });
  }, 180_000);

  it('flags an identity that two agent processes run with (an image cloned after enrolment); the clone enrols anew by itself, the original keeps it', async () => {
    const token = await newToken();
    const name = `clone-${randomBytes(2).toString('hex')}`;
    const original = startAgent(name, token);
    await original.waitForLog('"configuration applied"', 30_000);
    const agentId = /"agentId":"([0-9a-f-]{36})"/.exec(original.log)![1];
    const bootOf = (agent: ServiceProcess) => /"boot":"([0-9a-f-]{36})"/.exec(agent.log.split('\n').find((line) => line.includes('"agent started"'))!)![1];
    // Each process reports the host it runs on with its boot.
    await waitFor('the host report', async () => (await sql.query(`SELECT hostname FROM agent_boots WHERE agent_id = $1 AND boot_id = $2`, [agentId, bootOf(original)])).rows[0]?.hostname === hostname());

    // The machine is cloned while the agent runs: the clone starts from a copy of the original's
    // state directory (its identity, spool and configuration). Its kernel has booted anew, so the
    // spool lock the copy holds names another boot.
    const cloneDir = join(dataDir, `${name}-clone`);
    cpSync(join(dataDir, name), cloneDir, { recursive: true });
    const lockPath = join(cloneDir, 'spool', 'lock');
    const lock = readFileSync(lockPath, 'utf8');
    expect(lock).toMatch(/^\d+\nboot=[0-9a-f-]{36}\npidns=pid:\[\d+\]\nstart=\d+\n$/);
    writeFileSync(lockPath, lock.replace(/boot=[0-9a-f-]{36}/, 'boot=00000000-0000-4000-8000-000000000000'));
    const clone = startAgent(`${name}-clone`, token);
    await clone.waitForLog('"agent started"', 30_000);
    expect(clone.log).not.toContain('agent enrolled');
    expect(clone.log).toContain('taking over stale spool lock');
    const view = async (id = agentId) => (await api.get<{ duplicatedAt: string | null; status: string; hostname: string }>(`/agents/${id}`)).body;
    const duplicatedAt = await waitFor('the identity flagged', async () => (await view()).duplicatedAt ?? undefined, 60_000);
    const { body } = await api.get<{ items: EventItem[] }>(`/events?type=communications&limit=500`);
    const announced = body.items.filter((e) => e.details?.['what'] === 'agent-duplicated' && e.details?.['agentId'] === agentId);
    expect(announced).toHaveLength(1);
    const boots = announced[0].details!['boots'] as { boot: string; hostname: string }[];
    expect(boots.map((b) => [b.boot, b.hostname])).toEqual([
      [bootOf(original), hostname()],
      [bootOf(clone), hostname()],
    ]);
    // The original polled first: it keeps the identity.
    expect(announced[0].details!['kept']).toBe(bootOf(original));

    // Told so at its next return, the clone enrols with an identity of its own (a use of the same
    // token), drops what its spool held under the shared one, and goes on as the new agent.
    await clone.waitForLog('agent enrolled as a clone, with an identity of its own', 30_000);
    const line = clone.log.split('\n').find((l) => l.includes('agent enrolled as a clone'))!;
    const newAgentId = /"agentId":"([0-9a-f-]{36})"/.exec(line)![1];
    expect(newAgentId).not.toBe(agentId);
    expect(line).toMatch(/"droppedFromSpool":\d+/);
    expect(JSON.parse(readFileSync(join(cloneDir, 'identity.json'), 'utf8'))).toMatchObject({ agentId: newAgentId });
    await waitFor('the new agent online', async () => (await view(newAgentId)).status === 'online', 30_000);
    expect((await view(newAgentId)).hostname).toBe(hostname());
    const { body: after } = await api.get<{ items: EventItem[] }>(`/events?type=communications&limit=500`);
    expect(after.items.filter((e) => e.details?.['what'] === 'agent-clone-enrolled').map((e) => e.details)).toEqual([
      expect.objectContaining({ agentId, boot: bootOf(clone), newAgentId }),
    ]);
    expect(original.log).not.toContain('agent enrolled as a clone');

    // Only the original polls as the shared identity now. Ten minutes without a return clear the
    // flag: the test moves the last return back instead of waiting (again, if the original's first
    // poll after the clone's last one was a return counted meanwhile).
    await waitFor("the original's poll", async () => (await sql.query(`SELECT boot_id FROM agents WHERE id = $1`, [agentId])).rows[0]?.boot_id === bootOf(original), 30_000);
    await waitFor('the flag cleared', async () => {
      await sql.query(`UPDATE agents SET boot_returned_at = least(boot_returned_at, now() - interval '11 minutes') WHERE id = $1`, [agentId]);
      await sleep(1_000);
      return (await view()).duplicatedAt === null;
    }, 20_000);
    // Both poll on (a 5 s long poll), each as itself: no return, no second announcement.
    await sleep(6_000);
    expect((await sql.query(`SELECT boot_returned_at < now() - interval '10 minutes' AS quiet, duplicated_at FROM agents WHERE id = $1`, [agentId])).rows[0]).toEqual({ quiet: true, duplicated_at: null });
    const later = await api.get<{ items: EventItem[] }>(`/events?type=communications&limit=500`);
    const resolved = later.body.items.filter((e) => e.details?.['what'] === 'agent-duplicate-resolved' && e.details?.['agentId'] === agentId);
    expect(resolved.map((e) => e.details)).toEqual([expect.objectContaining({ duplicatedAt, boot: bootOf(original), hostname: hostname() })]);
    expect((await view()).status).toBe('online');
    expect((await view(newAgentId)).duplicatedAt).toBeNull();
    expect(later.body.items.filter((e) => e.details?.['what'] === 'agent-duplicated')).toHaveLength(1);
    await Promise.all([original.stop(), clone.stop()]);
    expect([original.exitCode, clone.exitCode]).toEqual([0, 0]);
  }, 120_000);

  it('runs a run asked of it that a process of it picked up and never started (stopped first), in its next process, once', async () => {
    const token = await newToken();
    const name = `rerun-${randomBytes(2).toString('hex')}`;
    const first = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` });
    const agent = await waitFor('the agent online', async () => {
      const found = (await api.get<{ items: { id: string; name: string; deviceId: string; status: string }[] }>('/agents')).body.items.find((a) => a.name.endsWith(`-${name}`));
      return found?.status === 'online' && found;
    });
    const { status, body: tracker } = await api.post('/trackers', {
      name: 'own listening ports, run by hand',
      deviceId: agent.deviceId,
      type: 'network-port',
      mode: 'self',
      ports: [{ range: '30900-30950', protocol: 'tcp' }],
      schedule: { kind: 'interval', every: '1h' },
      sendBaselineEvents: false,
    });
    expect(status).toBe(201);
    const trackerId = String(tracker['id']);
    await waitFor("the tracker in the agent's configuration", configApplied(first, 1));
    await first.stop();

    // A process of the agent that picks the run up and is gone before it starts it (a crash, a
    // reboot): here the test, polling with the agent's credentials as a boot of its own.
    const { secret } = JSON.parse(readFileSync(join(dataDir, name, 'identity.json'), 'utf8')) as { secret: string };
    const asAgent = api.as(`${agent.id}.${secret}`);
    const run = await api.post(`/trackers/${trackerId}/run`, {});
    const jobId = String(run.body['jobId']);
    const picked = await asAgent.get<{ jobs: { jobId: string }[] }>(`/agent/jobs?wait=0&boot=${randomUUID()}&version=0.9.0-test`);
    expect(picked.body.jobs).toEqual([{ jobId, trackerId, trigger: 'manual' }]);
    expect((await api.get(`/jobs/${jobId}`)).body['status']).toBe('queued');

    const next = startAgent(name, token, { PORTOLAN_AGENT_NAME_SUFFIX: `-${name}` });
    const job = await api.waitForJob(jobId, 60_000);
    expect(job).toMatchObject({ status: 'succeeded', trigger: 'manual' });
    const runs = next.log.split('\n').filter((line) => line.includes('"run finished"') && line.includes(jobId));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toContain('"trigger":"manual"');
    await next.stop();
  }, 120_000);

  it('refuses a hub whose certificate does not match the pinned fingerprint, and says so', async () => {
    const token = await newToken();
    const wrong = fingerprint.replace(/^[0-9A-F]{2}/, (pair) => (pair === '00' ? '11' : '00'));
    const agent = startAgent(`pin-${randomBytes(2).toString('hex')}`, token, { PORTOLAN_HUB_PIN_SHA256: wrong });
    await agent.waitForLog('matches none of the pinned fingerprints', 30_000);
    await waitFor('the agent to stop', async () => agent.exitCode !== null, 15_000);
    expect(agent.exitCode).not.toBe(0);
  }, 60_000);

  it('learns the pin of another gateway replica from the hub, and reaches that replica with it', async () => {
    const token = await newToken();
    const name = `pins-${randomBytes(2).toString('hex')}`;
    const fetchedFromHub = (agent: ServiceProcess) => agent.log.split('\n').some((line) => line.includes('"configuration applied"') && line.includes('"source":"hub"'));
    const agent = startAgent(name, token);
    await waitFor('the configuration from the hub', async () => fetchedFromHub(agent), 30_000);

    // A second replica on the same database, with its own self-signed certificate.
    const port = await freePort();
    const second = new ServiceProcess('gateway-2', 'gateway', { ...gatewayEnv, GATEWAY_PORT: String(port), PORTOLAN_DATA_DIR: join(dataDir, 'hub-2'), PORTOLAN_INSTANCE: 'gateway-2' });
    processes.push(second);
    await second.waitForLog('gateway listening', 60_000);
    const secondFingerprint = /"fingerprint":"([0-9A-F:]+)"/.exec(second.log)![1];
    expect(secondFingerprint).not.toBe(fingerprint);
    // The running agent is told on its next poll (its configuration version moved), over its pinned connection.
    await agent.waitForLog(secondFingerprint, 30_000);
    expect(agent.log.split('\n').find((line) => line.includes(secondFingerprint))).toContain('hub certificate pins updated');
    // And the hub sees it has taken the new configuration (what an operator checks before switching certificates).
    const agentId = /"agentId":"([0-9a-f-]{36})"/.exec(agent.log)![1];
    await waitFor('the agent to report its configuration applied', async () => (await api.get<{ config: { pending: boolean } }>(`/agents/${agentId}`)).body.config.pending === false, 30_000);
    await agent.stop();

    const secondUrl = `https://127.0.0.1:${port}/api/`;
    // An agent pinned to the first gateway alone cannot talk to the second...
    const stranger = startAgent(`stranger-${randomBytes(2).toString('hex')}`, token, { PORTOLAN_HUB_URL: secondUrl });
    await stranger.waitForLog('matches none of the pinned fingerprints (1 configured)', 30_000);
    // ...the one that learned its pin can, from its cached configuration, after a restart.
    const again = startAgent(name, token, { PORTOLAN_HUB_URL: secondUrl });
    await waitFor('the configuration from the second gateway', async () => fetchedFromHub(again), 30_000);
    expect(again.log).not.toContain('matches none of the pinned fingerprints');
    await again.stop();
    expect(again.exitCode).toBe(0);

    const { body } = await api.get<{ items: { fingerprint: string; served: boolean; announced: boolean }[] }>('/hub-certificates');
    expect(body.items.filter((c) => c.served && c.announced).map((c) => c.fingerprint).sort()).toEqual([fingerprint, secondFingerprint].sort());
    await second.stop();
  }, 150_000);
});
