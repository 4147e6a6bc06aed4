import { randomBytes } from 'node:crypto';
import { ApiClient } from './api.client';
import { DistributedHub } from './distributed.hub';
import { LoopbackListeners } from './loopback.listeners';
import { runPortChangeScenario } from './port-change.scenario';

/**
 * Distributed mode: gateway, scheduler, comparer and three scanner workers of one site as
 * separate processes over the real Postgres and NATS JetStream. Chunks of 2 hosts make the
 * 4-host network scan two jobs on the site's subject, shared by the workers.
 */
describe('distributed hub (Postgres + NATS JetStream, separate processes)', () => {
  const listeners = new LoopbackListeners();
  const site = `e2e-${randomBytes(3).toString('hex')}`;
  let hub: DistributedHub;
  let api: ApiClient;

  beforeAll(async () => {
    hub = await DistributedHub.create('portolan_e2e', { SCHEDULER_CHUNK_MAX_HOSTS: '2', SCANNER_SITE: site });
    api = new ApiClient((await hub.gateway()).url);
    await hub.start('scheduler', 'comparer', ...[1, 2, 3].map((n) => ({ name: `scanner-${n}`, app: 'scanner' })));
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    await listeners.closeAll();
  }, 60_000);

  it('turns an opened and a closed port into exactly one added and one removed event', async () => {
    await hub.logsOnFailure(async () => {
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
    });
  }, 180_000);

  it('reports database and bus readiness', async () => {
    const health = await api.get('/health');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', database: { ok: true, detail: 'postgres' }, bus: { ok: true, kind: 'nats' } } });
  });
});
