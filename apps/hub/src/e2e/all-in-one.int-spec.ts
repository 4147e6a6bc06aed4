import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nmapScanning, REMOTE_TRACKER, waitFor } from './agent-e2e.support';
import { ApiClient } from './api.client';
import { LoopbackListeners } from './loopback.listeners';
import { runPortChangeScenario } from './port-change.scenario';
import { freePort, ServiceProcess } from './service.process';

/**
 * All-in-one mode as `npm start` runs it: one process, embedded PGlite, in-process bus, HTTPS
 * with the self-signed certificate the hub generates on first start (trusted here by pinning it),
 * and the admin token it makes on first start (read here from the file it writes).
 */
describe('all-in-one hub (PGlite + in-process bus, one process)', () => {
  const listeners = new LoopbackListeners();
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-aio-'));
  let hub: ServiceProcess;
  let api: ApiClient;
  let adminToken: string;

  let env: Record<string, string>;

  beforeAll(async () => {
    const port = await freePort();
    env = {
      PORTOLAN_DATA_DIR: dataDir,
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(port),
      SCHEDULER_TICK_MS: '500',
      // As `npm start` on its defaults: no admin token configured.
      PORTOLAN_ADMIN_TOKEN: '',
    };
    hub = new ServiceProcess('hub', 'hub', env);
    await hub.waitForLog('gateway listening', 90_000);
    const certFile = join(dataDir, 'tls', 'gateway.crt');
    expect(existsSync(certFile)).toBe(true);
    adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    api = new ApiClient(`https://127.0.0.1:${port}/api`, readFileSync(certFile), adminToken);
    await api.waitForHealth(30_000);
  }, 120_000);

  afterAll(async () => {
    await hub.stop();
    await listeners.closeAll();
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('turns an opened and a closed port into exactly one added and one removed event', async () => {
    try {
      await runPortChangeScenario(api, listeners);
    } catch (error) {
      process.stderr.write(`--- hub ---\n${hub.log.slice(-4000)}\n`);
      throw error;
    }
  }, 120_000);

  describe('bad input gets a 400 that names the problem and stores nothing', () => {
    const count = async (path: string) => ((await api.get<{ items: unknown[] }>(`${path}?limit=500`)).body.items ?? []).length;

    it.each([
      ['a malformed address', { name: 'x', kind: 'network', address: '127.0.0.1-300' }, /127\.0\.0\.1-300/],
      ['a reversed range', { name: 'x', kind: 'network', address: '127.0.0.9-3' }, /127\.0\.0\.9-3/],
      ['an address outside the scope guard', { name: 'x', kind: 'network', address: '127.0.0.1 10.1.2.3' }, /10\.1\.2\.3.*outside the allowed scope/],
      ['an unknown field', { name: 'x', kind: 'network', address: '127.0.0.1', color: 'red' }, /color/],
    ])('device with %s', async (_what, body, message) => {
      const before = await count('/devices');
      const response = await api.post<{ error: { message: string } }>('/devices', body);
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(message);
      expect(await count('/devices')).toBe(before);
    });

    it.each([
      ['a malformed port spec', { ports: [{ range: '40000-70000', protocol: 'tcp' }] }, /70000/],
      ['an unknown protocol', { ports: [{ range: '22', protocol: 'sctp' }] }, /protocol/],
      ['rules that select no port', { ports: [{ range: '22', protocol: 'tcp' }, { range: '22', protocol: 'tcp', exclude: true }] }, /no ports/],
      ['no pace at all', { maxRate: 0 }, /maxRate/],
      ['a pace past the limit', { mode: 'network', maxRate: 2_000_000 }, /maxRate/],
      ['a pace too slow to scan a host in a week', { maxRate: 0.0001 }, /maxRate 0\.0001 is too slow: one scan of a host over 101 ports would take more than 7 days; at least 0\.001 probes a second/],
    ])('tracker with %s', async (_what, fields, message) => {
      const device = await api.post('/devices', { name: 'ok', kind: 'host', address: '127.0.0.1' });
      const before = await count('/trackers');
      const response = await api.post<{ error: { message: string } }>('/trackers', {
        name: 't',
        deviceId: device.body['id'],
        type: 'network-port',
        mode: 'remote',
        ports: [{ range: '40000-40100', protocol: 'tcp' }],
        schedule: { kind: 'once' },
        sendBaselineEvents: false,
        ...fields,
      });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(message);
      expect(await count('/trackers')).toBe(before);
    });

    it('tracker for an unknown device', async () => {
      const response = await api.post<{ error: { message: string } }>('/trackers', {
        name: 't',
        deviceId: '3f1e9c6a-0000-4000-8000-000000000000',
        type: 'network-port',
        mode: 'network',
        ports: [{ range: '22', protocol: 'tcp' }],
        schedule: { kind: 'once' },
        sendBaselineEvents: false,
      });
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(/deviceId 3f1e9c6a-0000-4000-8000-000000000000 does not exist/);
    });

    it('invalid JSON and an oversized body', async () => {
      const before = await count('/sites');
      const invalid = await api.post<{ error: { code: string; message: string } }>('/sites', '{"name": ', true);
      expect(invalid.status).toBe(400);
      expect(invalid.body.error).toMatchObject({ code: 'invalid_json', message: expect.stringMatching(/not valid JSON/) });
      const huge = await api.post<{ error: { code: string; message: string } }>('/sites', { name: 'a'.repeat(400_000) });
      expect(huge.status).toBe(400);
      expect(huge.body.error).toMatchObject({ code: 'body_too_large', message: expect.stringMatching(/exceeds the limit/) });
      expect(await count('/sites')).toBe(before);
    });

    it('a site named as the workers that serve every site consume', async () => {
      const before = await count('/sites');
      const reserved = await api.post<{ error: { message: string } }>('/sites', { name: 'all-sites' });
      expect(reserved.status).toBe(400);
      expect(reserved.body.error.message).toMatch(/site name "all-sites" is reserved: the workers that serve every site use it/);
      expect(await count('/sites')).toBe(before);
    });
  });

  it('paces a scan at the rate its tracker asks (nmap --max-rate), showing its progress while it runs, with its timeout stretched to fit', async () => {
    await listeners.open('127.0.0.31', 40031);
    const device = await api.post('/devices', { name: 'fragile plc', kind: 'host', address: '127.0.0.31' });
    // 101 ports at 20 probes a second: some five seconds, long enough for nmap's progress (every 2 s) to show.
    const created = await api.post('/trackers', { name: 'gentle scan', deviceId: device.body['id'], ...REMOTE_TRACKER, sendBaselineEvents: true, maxRate: 20 });
    expect(created.status).toBe(201);
    expect(created.body['maxRate']).toBe(20);
    const trackerId = String(created.body['id']);

    const run = await api.post(`/trackers/${trackerId}/run`, {});
    const { job, runningProgress } = await api.followJob(String(run.body['jobId']), 60_000);
    expect(job['status']).toBe('succeeded');
    const [scan] = job['scans'] as { args: string[] }[];
    expect(scan.args.join(' ')).toContain('--max-rate 20');
    expect(runningProgress.some((p) => p > 0 && p < 100)).toBe(true);
    const ports = await api.get<{ items: { port: number }[] }>(`/devices/${device.body['id']}/ports`);
    expect(ports.body.items.map((p) => p.port)).toEqual([40031]);
    // A worker that paces says nothing of it: only a scan without the pace is a scan-pace-ignored event.
    const comms = await api.get<{ items: { details: { what: string } }[] }>(`/events?jobId=${String(run.body['jobId'])}&type=communications`);
    expect(comms.body.items.map((e) => e.details.what)).toContain('scan-finished');
    expect(comms.body.items.map((e) => e.details.what)).not.toContain('scan-pace-ignored');

    // Back to nmap's own pace.
    const cleared = await api.patch(`/trackers/${trackerId}`, { maxRate: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body['maxRate']).toBeNull();
    const again = await api.waitForJob(String((await api.post(`/trackers/${trackerId}/run`, {})).body['jobId']));
    expect(((again['scans'] as { args: string[] }[])[0].args)).not.toContain('--max-rate');
  }, 120_000);

  it('cancels a scan under way: nmap stops, the job fails saying who cancelled it and why, with its event; a finished job is not cancelled again', async () => {
    await listeners.open('127.0.0.36', 40036);
    const device = await api.post('/devices', { name: 'mistyped target', kind: 'host', address: '127.0.0.36' });
    // 101 ports at 1 probe a second: some two minutes of nmap, unless it is stopped.
    const created = await api.post('/trackers', { name: 'slow scan', deviceId: device.body['id'], ...REMOTE_TRACKER, maxRate: 1 });
    const jobId = String((await api.post(`/trackers/${String(created.body['id'])}/run`, {})).body['jobId']);
    await waitFor('its nmap to run', async () => (await api.get<{ scans: { status: string }[] }>(`/jobs/${jobId}`)).body.scans[0]?.status === 'running' && nmapScanning('127.0.0.36'), Boolean, 30_000);

    const cancelled = await api.post(`/jobs/${jobId}/cancel`, { reason: 'wrong range', actor: 'soc-analyst-1' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'failed', error: 'cancelled by soc-analyst-1: wrong range', cancelledAt: expect.any(String) });
    expect((cancelled.body['scans'] as { status: string; error: string }[])[0]).toMatchObject({ status: 'failed', error: 'cancelled by soc-analyst-1: wrong range' });
    await waitFor('its nmap to stop', async () => !nmapScanning('127.0.0.36') && /scan stopped: its job was cancelled/.test(hub.log), Boolean, 10_000);
    const comms = await api.get<{ items: { details: Record<string, unknown> }[] }>(`/events?jobId=${jobId}&type=communications`);
    expect(comms.body.items.map((e) => e.details)).toContainEqual(expect.objectContaining({ what: 'scan-failed', status: 'failed', reason: 'cancelled by soc-analyst-1: wrong range' }));

    const again = await api.post(`/jobs/${jobId}/cancel`, {});
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toMatch(/has finished already \(failed\); there is nothing to cancel/);
    expect((await api.post(`/jobs/${jobId}/cancel`, { why: 'typo' })).status).toBe(400);
    expect((await api.post('/jobs/00000000-0000-4000-8000-000000000000/cancel', {})).status).toBe(404);
    // Nothing the stopped scan sent later changes the job.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await api.get(`/jobs/${jobId}`)).body).toMatchObject({ status: 'failed', error: 'cancelled by soc-analyst-1: wrong range' });
  }, 90_000);

  it('lists scan jobs newest first, filtered by status and tracker, in pages that follow a cursor', async () => {
    type Listed = { id: string; trackerId: string; status: string; requestedAt: string; error: string | null; chunks: Record<string, number> };
    const list = (query: string) => api.get<{ items: Listed[]; nextCursor: string | null }>(`/jobs?${query}`);
    const all = (await list('limit=500')).body.items;
    expect(all.length).toBeGreaterThanOrEqual(4);
    const times = all.map((j) => Date.parse(j.requestedAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all[0]).not.toHaveProperty('scans');
    expect(Object.keys(all[0].chunks).sort()).toEqual(['done', 'failed', 'total']);

    const failed = (await list('status=failed,partial')).body.items;
    expect(failed.every((j) => j.status === 'failed' || j.status === 'partial')).toBe(true);
    const cancelled = failed.find((j) => j.error === 'cancelled by soc-analyst-1: wrong range');
    expect(cancelled).toBeDefined();
    expect((await list(`trackerId=${cancelled!.trackerId}`)).body.items.map((j) => j.id)).toEqual([cancelled!.id]);

    const walked: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page += 1) {
      const { body } = await list(`limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      walked.push(...body.items.map((j) => j.id));
      cursor = body.nextCursor;
      if (!cursor) break;
    }
    expect(walked).toEqual(all.map((j) => j.id));

    const wrong = await api.get<{ error: { message: string } }>('/jobs?status=open,done');
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toMatch(/"done" is not a job status/);
    expect((await list('cursor=forged')).status).toBe(400);

    // A run asked now is open, newest, until it is cancelled.
    const again = String((await api.post(`/trackers/${cancelled!.trackerId}/run`, {})).body['jobId']);
    expect((await list('status=open')).body.items.map((j) => j.id)).toEqual([again]);
    expect((await api.post(`/jobs/${again}/cancel`, { reason: 'not twice' })).status).toBe(200);
    expect((await list('status=open')).body.items).toEqual([]);
    expect((await list(`trackerId=${cancelled!.trackerId}`)).body.items.map((j) => [j.id, j.status])).toEqual([
      [again, 'failed'],
      [cancelled!.id, 'failed'],
    ]);
    await waitFor('no nmap of it left', async () => !nmapScanning('127.0.0.36'), Boolean, 10_000);
  });

  it('makes an admin token on first start, written only to a file its owner alone can read', async () => {
    expect(adminToken).toMatch(/^ptop_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dataDir, 'admin.token')).mode & 0o777).toBe(0o600);
    expect(hub.log).toContain(join(dataDir, 'admin.token'));
    expect(hub.log).not.toContain(adminToken.slice(5));
    expect((await api.get('/operator-tokens/current')).body).toMatchObject({ name: 'admin (first start)', role: 'admin' });
    expect((await api.as(null).get('/devices')).status).toBe(401);
  });

  it('refuses a client that does not trust its certificate', async () => {
    const untrusting = new ApiClient(api.baseUrl, undefined, adminToken);
    await expect(untrusting.get('/health')).rejects.toThrow(/self[- ]signed/i);
  });

  it('serves its OpenAPI document', async () => {
    const docs = await api.get<{ openapi: string; paths: Record<string, unknown>; security: unknown[] }>('/docs');
    expect(docs.body.openapi).toBe('3.1.0');
    expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/api/trackers/{id}/run', '/api/events', '/api/devices/{id}/ports', '/api/operator-tokens']));
    expect(docs.body.security).toEqual([{ operatorToken: [] }]);
    expect((docs.body.paths['/api/health'] as { get: { security: unknown[] } }).get.security).toEqual([]);
  });

  it('lists its own scanner worker and collector, serving every site, as online', async () => {
    const workers = await api.get<{ items: { kind: string; site: string; features: string[]; status: string }[] }>('/workers');
    expect(workers.body.items.map((w) => `${w.kind} ${w.site} ${w.features.join(',') || '-'} ${w.status}`).sort()).toEqual(['collector * - online', 'scanner * scan-pace online']);
    expect((await api.get('/workers?status=stopped')).body).toEqual({ items: [], nextCursor: null });
    expect((await api.get('/workers?kind=printer')).status).toBe(400);
    // A page at a time: by site, kind and name.
    const first = await api.get<{ items: { kind: string }[]; nextCursor: string | null }>('/workers?limit=1');
    expect(first.body.items.map((w) => w.kind)).toEqual(['collector']);
    const second = await api.get<{ items: { kind: string }[]; nextCursor: string | null }>(`/workers?limit=1&cursor=${first.body.nextCursor ?? ''}`);
    expect(second.body).toEqual({ items: [expect.objectContaining({ kind: 'scanner' })], nextCursor: null });
    const forged = await api.get<{ error: { message: string } }>('/workers?cursor=bm90LWEtY3Vyc29y');
    expect(forged).toMatchObject({ status: 400, body: { error: { message: 'cursor is not one this API issued' } } });
  });

  it("has run every duty of the scheduler's leader on PGlite without a failure", async () => {
    // The leader ticks every 500 ms here; each duty's statements have run on the embedded database by now, some many times.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(hub.log).toMatch(/scheduler leads/);
    expect(hub.log).not.toMatch(/scheduler tick failed/);
  });

  it('hears its own scanner worker and collector say they stop: restarted (under another name), it lists them stopped', async () => {
    await hub.stop();
    hub = new ServiceProcess('hub-2', 'hub', env);
    await hub.waitForLog('gateway listening', 90_000);
    await api.waitForHealth(30_000);
    const workers = await api.get<{ items: { kind: string; name: string; status: string }[] }>('/workers');
    expect(workers.body.items.map((w) => `${w.kind} ${w.name} ${w.status}`).sort()).toEqual(['collector collector:hub stopped', 'collector collector:hub-2 online', 'scanner hub stopped', 'scanner hub-2 online']);
  }, 120_000);
});
