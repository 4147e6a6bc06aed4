import { ApiClient } from './api.client';
import { LoopbackListeners } from './loopback.listeners';

interface EventItem {
  kind: string;
  host: string;
  protocol: string;
  port: number;
  details: Record<string, unknown> | null;
  jobId: string;
}

/**
 * The walking-skeleton scenario, the same in every run mode: a network device over
 * 127.0.0.21-24 and a tracker on TCP 40000-40100 are defined through the REST API; the first run
 * makes the baseline; then one port opens and another closes, and the second run must report
 * exactly that as one `added` and one `removed` event, with a communications event per scan.
 */
export async function runPortChangeScenario(api: ApiClient, listeners: LoopbackListeners, site?: string): Promise<{ jobs: Record<string, unknown>[] }> {
  await listeners.open('127.0.0.21', 40021);
  await listeners.open('127.0.0.22', 40022);
  await listeners.open('127.0.0.23', 40023);

  let siteId: string | undefined;
  if (site) {
    const created = await api.post('/sites', { name: site });
    expect(created.status).toBe(201);
    siteId = String(created.body['id']);
  }
  const device = await api.post('/devices', { name: 'loopback lab', kind: 'network', address: '127.0.0.21-24', siteId });
  expect(device.status).toBe(201);
  const tracker = await api.post('/trackers', {
    name: 'lab ports',
    deviceId: device.body['id'],
    type: 'network-port',
    mode: 'network',
    ports: [{ range: '40000-40100', protocol: 'tcp' }],
    schedule: { kind: 'cron', cron: '0 0 1 1 *' },
    sendBaselineEvents: false,
  });
  expect(tracker.status).toBe(201);
  const trackerId = String(tracker.body['id']);

  const first = await api.post(`/trackers/${trackerId}/run`, {});
  expect(first.status).toBe(202);
  const job1 = await api.waitForJob(String(first.body['jobId']));
  expect(job1).toMatchObject({ status: 'succeeded', hosts: { planned: 4, done: 4, up: 4 } });

  const baseline = await api.get<{ items: { host: string; port: number; protocol: string }[] }>(`/devices/${device.body['id']}/ports`);
  expect(baseline.body.items.map((p) => `${p.host}:${p.protocol}/${p.port}`).sort()).toEqual(['127.0.0.21:tcp/40021', '127.0.0.22:tcp/40022', '127.0.0.23:tcp/40023']);
  const afterBaseline = await api.get<{ items: EventItem[] }>(`/events?trackerId=${trackerId}`);
  expect(afterBaseline.body.items.map((e) => e.kind)).toEqual(['communications']);

  await listeners.close('127.0.0.22', 40022);
  await listeners.open('127.0.0.24', 40024);

  const second = await api.post(`/trackers/${trackerId}/run`, {});
  const job2 = await api.waitForJob(String(second.body['jobId']));
  expect(job2['status']).toBe('succeeded');

  const changes = await api.get<{ items: EventItem[] }>(`/events?trackerId=${trackerId}&type=added,removed,modified`);
  expect(changes.body.items.map((e) => `${e.kind} ${e.host} ${e.protocol}/${e.port}`).sort()).toEqual(['added 127.0.0.24 tcp/40024', 'removed 127.0.0.22 tcp/40022']);
  expect(changes.body.items.every((e) => e.jobId === second.body['jobId'])).toBe(true);

  const comms = await api.get<{ items: EventItem[] }>(`/events?trackerId=${trackerId}&type=communications`);
  expect(comms.body.items).toHaveLength(2);
  for (const event of comms.body.items) expect(event.details).toMatchObject({ what: 'scan-finished', status: 'succeeded', durationMs: expect.any(Number) });

  const current = await api.get<{ items: { host: string; port: number }[] }>(`/devices/${device.body['id']}/ports`);
  expect(current.body.items.map((p) => `${p.host}:${p.port}`).sort()).toEqual(['127.0.0.21:40021', '127.0.0.23:40023', '127.0.0.24:40024']);
  return { jobs: [job1, job2] };
}
