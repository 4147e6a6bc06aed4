import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '@portolan/persistence';
import { ApiClient } from './api.client';
import { LoopbackListeners } from './loopback.listeners';
import { runPortChangeScenario } from './port-change.scenario';
import { freePort, ServiceProcess } from './service.process';

/**
 * Distributed mode: gateway, scheduler, comparer and three scanner workers of one site as
 * separate processes over the real Postgres and NATS JetStream. Chunks of 2 hosts make the
 * 4-host network scan two jobs on the site's subject, shared by the workers.
 */
describe('distributed hub (Postgres + NATS JetStream, separate processes)', () => {
  const listeners = new LoopbackListeners();
  const processes: ServiceProcess[] = [];
  let api: ApiClient;
  let dropDatabase: () => Promise<void> = async () => undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-dist-'));
  const site = `e2e-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    const db = await createTestDatabase('portolan_e2e');
    dropDatabase = db.drop;
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url,
      NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
      PORTOLAN_DATA_DIR: dataDir,
      GATEWAY_PLAIN_HTTP: 'true',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(port),
      SCHEDULER_TICK_MS: '500',
      SCHEDULER_CHUNK_MAX_HOSTS: '2',
      SCANNER_SITE: site,
    };
    const gateway = new ServiceProcess('gateway', 'gateway', env);
    processes.push(gateway);
    api = new ApiClient(`http://127.0.0.1:${port}/api`);
    await api.waitForHealth();
    const others = [
      new ServiceProcess('scheduler', 'scheduler', env),
      new ServiceProcess('comparer', 'comparer', env),
      ...[1, 2, 3].map((n) => new ServiceProcess(`scanner-${n}`, 'scanner', env)),
    ];
    processes.push(...others);
    await Promise.all(others.map((p) => p.waitForLog('service started')));
    await processes[1].waitForLog('scheduler leads', 10_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await listeners.closeAll();
    await dropDatabase();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('turns an opened and a closed port into exactly one added and one removed event', async () => {
    try {
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
    } catch (error) {
      for (const p of processes) process.stderr.write(`--- ${p.name} ---\n${p.log.slice(-4000)}\n`);
      throw error;
    }
  }, 180_000);

  it('reports database and bus readiness', async () => {
    const health = await api.get('/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', database: { ok: true, detail: 'postgres' }, bus: { ok: true, kind: 'nats' } } });
  });
});
