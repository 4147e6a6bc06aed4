import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { waitFor } from './agent-e2e.support';
import { ApiClient } from './api.client';
import { DistributedHub } from './distributed.hub';
import { LoopbackListeners } from './loopback.listeners';
import { TEST_ADMIN_TOKEN } from './service.process';

interface EventItem {
  id: string;
  kind: string;
  host: string;
  itemKey: string;
  port: number;
  planned: boolean;
  plannedChangeId: string | null;
  observedAt: string;
}
type Page<T> = { items: T[]; nextCursor: string | null };
interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  payload?: { summary: string; severity: string; custom_details: { planned: boolean } };
}

/** A PagerDuty Events API v2 receiver on 127.0.0.1: answers 202 like PagerDuty and keeps each event. */
async function pagerDutyReceiver() {
  const received: PagerDutyEvent[] = [];
  const state = { down: false, refused: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.down) {
        state.refused += 1;
        res.writeHead(503).end();
        return;
      }
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as PagerDutyEvent);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { received, state, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Planned changes through the distributed hub (gateway, scheduler, comparer and a scanner as
 * processes over the real Postgres and NATS JetStream, real nmap on 127.0.0.41-42): inside an
 * approved window one opened port is planned and another is not; a planned change made from
 * the unplanned event re-evaluates it; recording mode plans what it sees and proposes rules.
 * Alerting runs too, with an unplanned-only rule to PagerDuty: the planned port opens no
 * incident, the unplanned ones do, and each is resolved once a planned change covers it.
 */
describe('planned changes (distributed hub)', () => {
  const listeners = new LoopbackListeners();
  let hub: DistributedHub;
  let api: ApiClient;
  let baseUrl: string;
  const site = `pc-${randomBytes(3).toString('hex')}`;
  let deviceId: string;
  let trackerId: string;
  let groupId: string;
  let pagerDuty: Awaited<ReturnType<typeof pagerDutyReceiver>>;
  let siteId: string;

  const run = async () => {
    const started = await api.post(`/trackers/${trackerId}/run`, {});
    expect(started.status).toBe(202);
    const job = await api.waitForJob(String(started.body['jobId']));
    expect(job['status']).toBe('succeeded');
    return String(started.body['jobId']);
  };
  const changesOf = async (jobId: string) => (await api.get<Page<EventItem>>(`/events?jobId=${jobId}&type=added,removed,modified`)).body.items;

  beforeAll(async () => {
    hub = await DistributedHub.create('portolan_planned', { SCANNER_SITE: site });
    baseUrl = (await hub.gateway()).url;
    api = new ApiClient(baseUrl);
    await hub.start('scheduler', 'comparer', 'scanner', { name: 'alerting', app: 'alerting', env: { ALERTING_POLL_MS: '200' } });

    const siteRow = await api.post('/sites', { name: site });
    siteId = String(siteRow.body['id']);
    const device = await api.post('/devices', { name: 'change lab', kind: 'network', address: '127.0.0.41-42', siteId: siteRow.body['id'] });
    deviceId = String(device.body['id']);
    const tracker = await api.post('/trackers', {
      name: 'lab ports',
      deviceId,
      type: 'network-port',
      mode: 'network',
      ports: [{ range: '40000-40100', protocol: 'tcp' }],
      schedule: { kind: 'cron', cron: '0 0 1 1 *' },
      sendBaselineEvents: false,
    });
    trackerId = String(tracker.body['id']);
    const group = await api.post('/groups', { name: `web servers ${site}` });
    expect(group.status).toBe(201);
    groupId = String(group.body['id']);
    expect((await api.post(`/groups/${groupId}/members`, { deviceIds: [deviceId] })).body).toEqual({ added: 1 });

    pagerDuty = await pagerDutyReceiver();
    const channel = await api.post('/alert-channels', { name: 'on-call', type: 'pagerduty', settings: { url: pagerDuty.url }, secrets: { routingKey: 'R0UTING-KEY-e2e' } });
    expect(channel.status).toBe(201);
    const rule = await api.post('/alert-rules', {
      name: 'Unplanned ports on web servers',
      scope: { groupIds: [groupId] },
      filter: { kinds: ['added'], itemTypes: ['port'], planned: 'unplanned' },
      severity: 'high',
      severityMap: [{ keyPattern: 'tcp/40070-40079', severity: 'critical' }],
      channelIds: [channel.body['id']],
    });
    expect(rule.status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // alerting reads rules at most every 2 s
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    await listeners.closeAll();
    await pagerDuty?.close();
  }, 60_000);

  it('refuses a window that ends before it starts, an invalid pattern, and unknown references, naming the field', async () => {
    const base = { name: 'bad', start: new Date().toISOString(), scope: { groupIds: [groupId] }, rules: [{ keyPattern: 'tcp/443' }], createdBy: 'alice' };
    const endBefore = await api.post('/planned-changes', { ...base, end: new Date(Date.now() - 60_000).toISOString() });
    expect(endBefore.status).toBe(400);
    expect(endBefore.body['error']).toMatchObject({ code: 'invalid_payload', details: { field: 'end' } });
    expect(String((endBefore.body['error'] as Record<string, unknown>)['message'])).toMatch(/^end: .* is not after the start/);
    const badPattern = await api.post('/planned-changes', { ...base, rules: [{ itemType: 'port', keyPattern: 'tcp/70000' }] });
    expect(badPattern.status).toBe(400);
    expect((badPattern.body['error'] as Record<string, unknown>)['message']).toBe('rules[0].keyPattern: port 70000 in "tcp/70000" is out of range (1-65535)');
    const unknownGroup = await api.post('/planned-changes', { ...base, scope: { groupIds: ['00000000-0000-4000-8000-000000000009'] } });
    expect(unknownGroup.status).toBe(400);
    expect((unknownGroup.body['error'] as Record<string, unknown>)['message']).toBe('scope.groupIds: 00000000-0000-4000-8000-000000000009 does not exist');
    const unknownGroupEvents = await api.get('/events?groupId=00000000-0000-4000-8000-000000000009');
    expect(unknownGroupEvents.status).toBe(400);
    const badKey = await api.get('/events?key=tcp/9000-8000');
    expect(badKey.status).toBe(400);
    expect((badKey.body['error'] as Record<string, unknown>)['message']).toBe('key: the range 9000-8000 in "tcp/9000-8000" ends before it starts');
    expect((await api.get<Page<unknown>>('/planned-changes')).body.items).toHaveLength(0); // nothing half-stored
  });

  it('inside an approved window, the opened port its rule names is planned and another opened port is not', async () => {
    await hub.logsOnFailure(async () => {
      await listeners.open('127.0.0.41', 40041);
      await run(); // the baseline

      const created = await api.post('/planned-changes', {
        name: 'CHG-1042 web tier',
        start: new Date(Date.now() - 60_000).toISOString(),
        end: new Date(Date.now() + 3_600_000).toISOString(),
        scope: { groupIds: [groupId] },
        rules: [{ trackerId, itemType: 'port', kinds: ['added'], keyPattern: 'tcp/40050-40060' }],
        createdBy: 'alice',
      });
      expect(created.status).toBe(201);
      expect(created.body['status']).toBe('draft');
      const planId = String(created.body['id']);

      // A draft classifies nothing.
      await listeners.open('127.0.0.41', 40052);
      const draftJob = await run();
      expect((await changesOf(draftJob)).map((e) => [e.itemKey, e.planned])).toEqual([['tcp/40052', false]]);

      // The unplanned port opened an incident (alerting may first work through events other test files left on the stream).
      const incidents = () => pagerDuty.received.filter((e) => e.event_action === 'trigger');
      const resolved = () => pagerDuty.received.filter((e) => e.event_action === 'resolve');
      const [first] = await waitFor('the PagerDuty incident for tcp/40052', async () => incidents(), (t) => t.length >= 1, 60_000);
      expect(first).toMatchObject({ routing_key: 'R0UTING-KEY-e2e', payload: { summary: 'Unplanned: tcp/40052 opened on 127.0.0.41 (change lab)', custom_details: { planned: false } } });

      const approved = await api.post(`/planned-changes/${planId}/approve`, { approvedBy: 'bob' });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ status: 'approved', approvedBy: 'bob', reevaluation: { examined: 1, nowPlanned: 1, nowUnplanned: 0 } });
      expect((await changesOf(draftJob))[0]).toMatchObject({ planned: true, plannedChangeId: planId }); // re-evaluated
      // Now planned: its incident is resolved, under the same dedup key.
      await waitFor('the incident resolved', async () => resolved(), (r) => r.length >= 1, 20_000);
      expect(resolved()).toEqual([{ routing_key: 'R0UTING-KEY-e2e', event_action: 'resolve', dedup_key: first.dedup_key }]);
      // The incident's link is the event, now planned, with its planned change named.
      const link = (first as unknown as { links: { href: string }[] }).links[0].href;
      expect(link).toMatch(/\/api\/events\/[0-9a-f-]{36}$/);
      const linked = await api.get(link.slice(link.indexOf('/api/') + 4));
      expect(linked.body).toMatchObject({ itemKey: 'tcp/40052', planned: true, plannedChange: { id: planId, name: 'CHG-1042 web tier' } });
      expect((await api.get('/events/00000000-0000-4000-8000-000000000009')).status).toBe(404);

      await listeners.open('127.0.0.41', 40055);
      await listeners.open('127.0.0.42', 40077);
      const jobId = await run();
      const changes = await changesOf(jobId);
      expect(changes.map((e) => `${e.kind} ${e.host} ${e.itemKey} ${e.planned ? `planned:${e.plannedChangeId === planId}` : 'unplanned'}`).sort()).toEqual([
        'added 127.0.0.41 tcp/40055 planned:true',
        'added 127.0.0.42 tcp/40077 unplanned',
      ]);

      // Filters: planned, key pattern, group, free text; counts; export.
      expect((await api.get<Page<EventItem>>(`/events?planned=false&type=added`)).body.items.map((e) => e.itemKey)).toEqual(['tcp/40077']);
      expect((await api.get<Page<EventItem>>(`/events?key=tcp/40050-40060`)).body.items.map((e) => e.itemKey).sort()).toEqual(['tcp/40052', 'tcp/40055']);
      expect((await api.get<Page<EventItem>>(`/events?groupId=${groupId}&q=127.0.0.42`)).body.items.map((e) => e.itemKey)).toEqual(['tcp/40077']);
      const summary = await api.get<{ items: Record<string, unknown>[] }>(`/reports/planned-vs-unplanned?groupId=${groupId}`);
      expect(summary.body.items).toEqual([{ groupId, group: `web servers ${site}`, planned: 2, unplanned: 1, devices: 1 }]);
      const unknownGroupReport = await api.get('/reports/planned-vs-unplanned?groupId=00000000-0000-4000-8000-000000000009');
      expect(unknownGroupReport.status).toBe(400);
      expect((unknownGroupReport.body['error'] as Record<string, unknown>)['message']).toBe('groupId 00000000-0000-4000-8000-000000000009 does not exist');
      const counts = await api.get<{ items: { kind: string; count: number; planned: number }[] }>(`/events/counts?by=kind&trackerId=${trackerId}`);
      expect(counts.body.items.find((c) => c.kind === 'added')).toEqual({ kind: 'added', count: 3, planned: 2 });
      // The same from the daily counts the recorder keeps (moved by the re-evaluation too).
      const rolled = await api.get<{ items: { kind: string; count: number; planned: number }[] }>(`/events/counts?by=kind&groupId=${groupId}&since=${new Date(Date.now() - 86_400_000).toISOString()}`);
      expect(rolled.body.items.find((c) => c.kind === 'added')).toEqual({ kind: 'added', count: 3, planned: 2 });
      const estate = await api.get<{ items: { day: string; kind: string; count: number; planned: number }[] }>(`/events/counts?by=day,kind&type=added`);
      expect(estate.body.items.map((c) => c.kind)).toEqual(estate.body.items.map(() => 'added'));
      expect(estate.body.items.reduce((sum, c) => [sum[0] + c.count, sum[1] + c.planned], [0, 0])).toEqual([3, 2]);
      const csv = await (await fetch(`${baseUrl}/events/export?format=csv&type=added`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
      const lines = csv.trim().split('\r\n');
      expect(lines[0]).toBe('occurredAt,observedAt,id,kind,planned,plannedChangeId,deviceId,deviceName,host,itemType,itemKey,protocol,port,trackerId,jobId,before,after,details');
      expect(lines.slice(1).map((l) => l.split(',').slice(3, 5).join(' ') + ' ' + l.split(',')[10]).sort()).toEqual(['added false tcp/40077', 'added true tcp/40052', 'added true tcp/40055']);
      const json = (await (await fetch(`${baseUrl}/events/export?format=json&type=added&planned=true`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json()) as EventItem[];
      expect(json.map((e) => e.itemKey).sort()).toEqual(['tcp/40052', 'tcp/40055']);

      // The unplanned one, planned after the fact from the event itself (once its incident is open).
      await waitFor('the PagerDuty incident for tcp/40077', async () => incidents(), (t) => t.length >= 2, 30_000);
      const unplanned = changes.find((e) => !e.planned) as EventItem;
      const fromEvent = await api.post('/planned-changes/from-events', { name: 'CHG-1043 late ticket', eventIds: [unplanned.id], createdBy: 'carol' });
      expect(fromEvent.status).toBe(201);
      expect(fromEvent.body).toMatchObject({ status: 'draft', scope: { deviceIds: [deviceId] }, rules: [{ trackerId, itemType: 'port', kinds: ['added'], keyPattern: 'tcp/40077' }] });
      const late = await api.post(`/planned-changes/${fromEvent.body['id']}/approve`, { approvedBy: 'bob' });
      expect(late.body['reevaluation']).toMatchObject({ nowPlanned: 1, nowUnplanned: 0 });
      expect((await api.get<Page<EventItem>>(`/events?planned=false&type=added`)).body.items).toHaveLength(0);
      // PagerDuty: an incident for each unplanned port (none for the planned tcp/40055), each resolved once, nothing more.
      await waitFor('the second incident resolved', async () => resolved(), (r) => r.length >= 2, 20_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // time for anything extra to (wrongly) arrive
      expect(incidents().map((e) => `${e.payload?.severity} ${e.payload?.summary}`)).toEqual(['error Unplanned: tcp/40052 opened on 127.0.0.41 (change lab)', 'critical Unplanned: tcp/40077 opened on 127.0.0.42 (change lab)']);
      expect(resolved().map((e) => e.dedup_key)).toEqual(incidents().map((e) => e.dedup_key));

      const detail = await api.get<{ plannedEvents: number; history: { action: string; actor: string; calledBy: string | null }[] }>(`/planned-changes/${planId}`);
      expect(detail.body.plannedEvents).toBe(2);
      expect(detail.body.history.map((h) => `${h.action} ${h.actor}`)).toEqual(['planned-change.created alice', 'planned-change.approved bob', 'planned-change.reevaluated bob']);
      // Who the calls named, and the token they were made with.
      expect(new Set(detail.body.history.map((h) => h.calledBy))).toEqual(new Set(['admin (PORTOLAN_ADMIN_TOKEN)']));

      // PagerDuty down when an unplanned port opens on another web server: its trigger waits for a
      // retry; planned meanwhile, the trigger is cancelled, and PagerDuty back hears nothing of it.
      const other = await api.post('/devices', { name: 'web-02', kind: 'host', address: '127.0.0.44', siteId });
      await api.post(`/groups/${groupId}/members`, { deviceIds: [other.body['id']] });
      const otherTracker = await api.post('/trackers', { name: 'web-02 ports', deviceId: other.body['id'], type: 'network-port', mode: 'remote', ports: [{ range: '40000-40100', protocol: 'tcp' }], schedule: { kind: 'cron', cron: '0 0 1 1 *' }, sendBaselineEvents: false });
      const runOther = async () => {
        const started = await api.post(`/trackers/${otherTracker.body['id']}/run`, {});
        return String((await api.waitForJob(String(started.body['jobId'])))['id']);
      };
      await runOther(); // its baseline
      pagerDuty.state.down = true;
      await listeners.open('127.0.0.44', 40088);
      const [late88] = await changesOf(await runOther());
      expect(late88).toMatchObject({ itemKey: 'tcp/40088', planned: false });
      await waitFor('the trigger for tcp/40088 refused once', async () => pagerDuty.state.refused, (n) => n >= 1, 30_000);
      const plan88 = await api.post('/planned-changes/from-events', { name: 'CHG-1044 monitoring port', eventIds: [late88.id], createdBy: 'carol' });
      expect((await api.post(`/planned-changes/${plan88.body['id']}/approve`, { approvedBy: 'bob' })).body['reevaluation']).toMatchObject({ nowPlanned: 1 });
      const cancelled = await api.get<{ items: { eventId: string; status: string; lastError: string }[] }>('/alert-deliveries?status=cancelled');
      expect(cancelled.body.items.filter((d) => d.eventId === late88.id)).toEqual([expect.objectContaining({ status: 'cancelled', lastError: 'not sent: a planned change covers the change now' })]);
      pagerDuty.state.down = false;
      await new Promise((resolve) => setTimeout(resolve, 2_500)); // past the first retry's backoff
      expect(pagerDuty.received.filter((e) => e.payload?.summary?.includes('tcp/40088'))).toEqual([]);
      expect(resolved()).toHaveLength(2); // nothing to resolve: no incident was opened
      expect((await api.delete(`/groups/${groupId}/members/${other.body['id']}`)).status).toBeLessThan(300); // the reports below are of change lab alone

      // Widening an approved planned change sends it back to draft.
      const edited = await api.patch(`/planned-changes/${planId}`, { rules: [{ keyPattern: 'tcp/40000-40100' }], editedBy: 'alice', justification: 'whole range' });
      expect(edited.body).toMatchObject({ status: 'draft', approvedBy: null });
    });
  }, 240_000);

  it('re-probe: an opened port is scanned once more at once, alone, by nmap, and reported only then', async () => {
    await hub.logsOnFailure(async () => {
      const device = await api.post('/devices', { name: 'reprobe lab', kind: 'host', address: '127.0.0.43', siteId });
      const self = await api.post('/trackers', { name: 'self', deviceId: device.body['id'], type: 'network-port', mode: 'self', ports: [{ range: '40000-40100', protocol: 'tcp' }], schedule: { kind: 'cron', cron: '0 0 1 1 *' }, sendBaselineEvents: false, reprobe: true });
      expect(self.status).toBe(400);
      expect((self.body['error'] as Record<string, unknown>)['message']).toBe('reprobe: only trackers run by the scanner workers (mode network or remote, without agentId) can re-probe changed ports');
      const tracker = await api.post('/trackers', { name: 'reprobed', deviceId: device.body['id'], type: 'network-port', mode: 'remote', ports: [{ range: '40000-40100', protocol: 'tcp' }], schedule: { kind: 'cron', cron: '0 0 1 1 *' }, sendBaselineEvents: false, reprobe: true });
      expect(tracker.status).toBe(201);
      expect(tracker.body['reprobe']).toBe(true);
      const id = String(tracker.body['id']);
      const runOnce = async () => {
        const started = await api.post(`/trackers/${id}/run`, {});
        return api.waitForJob(String(started.body['jobId']));
      };
      await listeners.open('127.0.0.43', 40043);
      await runOnce(); // the baseline
      await listeners.open('127.0.0.43', 40044);
      const scan = await runOnce();
      // The scan saw tcp/40044, asked for a re-probe of it, and reported nothing yet.
      expect((await api.get<Page<EventItem>>(`/events?jobId=${scan['id']}&type=added,removed`)).body.items).toEqual([]);
      const added = await waitFor('the re-probed port reported', async () => (await api.get<Page<EventItem & { jobId: string }>>(`/events?trackerId=${id}&type=added`)).body.items, (items) => items.length > 0, 60_000);
      expect(added.map((e) => `${e.kind} ${e.host} ${e.itemKey}`)).toEqual(['added 127.0.0.43 tcp/40044']);
      const probe = await api.waitForJob(added[0].jobId);
      expect(probe).toMatchObject({ trigger: 'reprobe', status: 'succeeded', probe: { hosts: ['127.0.0.43'], ports: { tcp: [{ from: 40044, to: 40044 }], udp: [] } }, hosts: { planned: 1, up: 1 } });
      const scans = probe['scans'] as { engine: string; args: string[] }[];
      expect(scans).toHaveLength(1);
      expect(scans[0].args).toEqual(expect.arrayContaining(['-p', 'T:40044'])); // just the changed port
    });
  }, 180_000);

  it('recording mode plans every change in scope and proposes a rule for each, which an operator confirms', async () => {
    await hub.logsOnFailure(async () => {
      const recording = await api.post('/planned-changes', {
        name: 'CHG-1050 install monitoring agent',
        mode: 'recording',
        start: new Date(Date.now() - 60_000).toISOString(),
        scope: { deviceIds: [deviceId] },
        createdBy: 'alice',
      });
      expect(recording.status).toBe(201);
      const id = String(recording.body['id']);
      await api.post(`/planned-changes/${id}/approve`, { approvedBy: 'bob', reevaluateSince: false });
      await listeners.close('127.0.0.41', 40041);
      const jobId = await run();
      expect((await changesOf(jobId)).map((e) => `${e.kind} ${e.itemKey} ${e.plannedChangeId === id}`)).toEqual(['removed tcp/40041 true']);
      const detail = await api.get<{ proposals: { ruleKey: string; rule: Record<string, unknown>; seen: number }[] }>(`/planned-changes/${id}`);
      expect(detail.body.proposals).toEqual([expect.objectContaining({ rule: { trackerId, itemType: 'port', kinds: ['removed'], keyPattern: 'tcp/40041' }, seen: 1 })]);
      const confirmed = await api.post(`/planned-changes/${id}/proposals/confirm`, { confirmedBy: 'bob', stopRecording: true });
      expect(confirmed.body).toMatchObject({ status: 'approved', mode: 'rules', rules: [{ keyPattern: 'tcp/40041', kinds: ['removed'] }] });
      expect((await api.get<{ proposals: unknown[] }>(`/planned-changes/${id}`)).body.proposals).toEqual([]);
    });
  }, 180_000);

  it('baseline management: confirmation, promote, an expected port, a removed item and a narrower port spec, each with its justification', async () => {
    await hub.logsOnFailure(async () => {
      const before = new Date();
      type Baseline = { items: { host: string; itemKey: string }[]; pending: { host: string; itemKey: string; kind: string; seen: number }[] };
      const baseline = async () => (await api.get<Baseline>(`/devices/${deviceId}/baseline`)).body;
      const changesSince = async (jobIds: string[]) => (await Promise.all(jobIds.map(changesOf))).flat().map((e) => `${e.kind} ${e.host} ${e.itemKey}`);
      expect((await api.patch(`/trackers/${trackerId}`, { confirmations: 2 })).status).toBe(200);

      await listeners.open('127.0.0.42', 40090);
      expect(await changesSince([await run()])).toEqual([]);
      expect((await baseline()).pending).toEqual([{ trackerId, host: '127.0.0.42', itemType: 'port', itemKey: 'tcp/40090', kind: 'added', seen: 1, firstSeenAt: expect.any(String) }]);
      const noReason = await api.post(`/devices/${deviceId}/baseline/promote`, { trackerId, host: '127.0.0.42', itemType: 'port', itemKey: 'tcp/40090', actor: 'dave', justification: '' });
      expect(noReason.status).toBe(400);
      const promoted = await api.post(`/devices/${deviceId}/baseline/promote`, { trackerId, host: '127.0.0.42', itemType: 'port', itemKey: 'tcp/40090', actor: 'dave', justification: 'CHG-1060 monitoring port' });
      expect(promoted.body).toMatchObject({ kind: 'added' });
      const after = await baseline();
      expect(after.pending).toEqual([]);
      expect(after.items.map((i) => `${i.host} ${i.itemKey}`)).toContain('127.0.0.42 tcp/40090');

      // An expected port that is not open is a removed change (confirmed over two scans).
      expect((await api.post(`/devices/${deviceId}/baseline/expected-ports`, { trackerId, host: '127.0.0.41', protocol: 'tcp', port: 40099, actor: 'dave', justification: 'the app must listen here' })).status).toBe(200);
      // An item taken out of the baseline that is still open is an added change.
      expect((await api.post(`/devices/${deviceId}/baseline/remove`, { trackerId, host: '127.0.0.41', itemType: 'port', itemKey: 'tcp/40055', actor: 'dave', justification: 're-review this port' })).status).toBe(200);
      const notInBaseline = await api.post(`/devices/${deviceId}/baseline/remove`, { trackerId, host: '127.0.0.41', itemType: 'port', itemKey: 'tcp/40055', actor: 'dave', justification: 'again' });
      expect(notInBaseline.status).toBe(404);
      const jobs = [await run(), await run()];
      expect((await changesSince(jobs)).sort()).toEqual(['added 127.0.0.41 tcp/40055', 'removed 127.0.0.41 tcp/40099']);

      // A narrower port spec: the ports it leaves out leave the baseline, with no event.
      expect((await api.patch(`/trackers/${trackerId}`, { ports: [{ range: '40050-40060', protocol: 'tcp' }] })).status).toBe(200);
      expect(await changesSince([await run()])).toEqual([]);
      expect((await baseline()).items.map((i) => `${i.host} ${i.itemKey}`)).toEqual(['127.0.0.41 tcp/40052', '127.0.0.41 tcp/40055']);
      const badSpec = await api.patch(`/trackers/${trackerId}`, { ports: [{ range: '40060-40050', protocol: 'tcp' }] });
      expect(badSpec.status).toBe(400);
      expect((await api.get<{ portSet: unknown }>(`/trackers/${trackerId}`)).body.portSet).toEqual({ tcp: [{ from: 40050, to: 40060 }], udp: [] }); // unchanged

      const history = await api.get<{ items: { source: string; action: string; actor: string | null; calledBy: string | null; justification: string | null; itemKey: string | null }[] }>(`/devices/${deviceId}/baseline/history`);
      const operator = history.body.items.filter((h) => h.source !== 'scan').map((h) => `${h.source} ${h.action} ${h.itemKey} ${h.actor}: ${h.justification}`);
      expect(operator.slice(0, 2).sort()).toEqual([
        'coverage baseline.coverage-dropped tcp/40077 comparer: the coverage of the tracker changed',
        'coverage baseline.coverage-dropped tcp/40090 comparer: the coverage of the tracker changed',
      ]);
      expect(operator.slice(2)).toEqual([
        'operator baseline.item-removed tcp/40055 dave: re-review this port',
        'operator baseline.item-expected tcp/40099 dave: the app must listen here',
        'operator baseline.promoted tcp/40090 dave: CHG-1060 monitoring port',
      ]);
      expect(history.body.items.find((h) => h.source === 'scan' && h.itemKey === 'tcp/40090')).toMatchObject({ action: 'added', actor: 'dave', justification: 'CHG-1060 monitoring port' });
      // The operators' edits keep the token they were made with; the comparer's moves have none.
      expect(history.body.items.filter((h) => h.source !== 'scan').map((h) => `${h.source} ${h.calledBy}`)).toEqual([
        'coverage null',
        'coverage null',
        'operator admin (PORTOLAN_ADMIN_TOKEN)',
        'operator admin (PORTOLAN_ADMIN_TOKEN)',
        'operator admin (PORTOLAN_ADMIN_TOKEN)',
      ]);

      // Reports: what is open now, and what was open before all of the above, rebuilt.
      const exposure = await api.get<{ devices: { deviceId: string; openPorts: number }[]; ports: { port: string; devices: number }[] }>(`/reports/exposure?groupId=${groupId}`);
      expect(exposure.body.devices).toEqual([{ deviceId, name: 'change lab', openPorts: 2, hosts: 1 }]);
      expect(exposure.body.ports.map((p) => p.port).sort()).toEqual(['tcp/40052', 'tcp/40055']);
      const then = await api.get<{ ports: { host: string; itemKey: string }[] }>(`/reports/open-at?deviceId=${deviceId}&at=${before.toISOString()}`);
      expect(then.body.ports.map((p) => `${p.host} ${p.itemKey}`)).toEqual(['127.0.0.41 tcp/40052', '127.0.0.41 tcp/40055', '127.0.0.42 tcp/40077']);
      expect((await api.get(`/reports/open-at?deviceId=${deviceId}&at=not-a-time`)).status).toBe(400);
    });
  }, 240_000);

  it('alert channels and rules through the API: bad input named, secrets write-only, a test alert delivered', async () => {
    const badUrl = await api.post('/alert-channels', { name: 'bad', type: 'webhook', settings: { url: 'ftp://127.0.0.1/x' } });
    expect(badUrl.status).toBe(400);
    expect((badUrl.body['error'] as Record<string, unknown>)['message']).toBe('invalid webhook channel: url: ftp: is not http or https');
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      const channel = await api.post('/alert-channels', { name: 'soc hook', type: 'webhook', settings: { url }, secrets: { signingSecret: 'a-signing-secret-of-32-characters!' } });
      expect(channel.status).toBe(201);
      expect(channel.body).toMatchObject({ type: 'webhook', secrets: ['signingSecret'], status: 'healthy' });
      expect(JSON.stringify(channel.body)).not.toContain('a-signing-secret');
      const test = await api.post(`/alert-channels/${channel.body['id']}/test`, {});
      expect(test.body).toMatchObject({ delivered: true });
      expect(received).toHaveLength(1);
      const unknownGroup = await api.post('/alert-rules', { name: 'r', scope: { groupIds: ['00000000-0000-4000-8000-000000000009'] }, channelIds: [channel.body['id']] });
      expect(unknownGroup.status).toBe(400);
      expect((unknownGroup.body['error'] as Record<string, unknown>)['message']).toBe('scope.groupIds: 00000000-0000-4000-8000-000000000009 does not exist');
      const rule = await api.post('/alert-rules', { name: 'unplanned in web', scope: { groupIds: [groupId] }, filter: { kinds: ['added'], planned: 'unplanned' }, severity: 'high', channelIds: [channel.body['id']] });
      expect(rule.status).toBe(201);
      expect((await api.get<{ items: { name: string }[] }>('/alert-rules')).body.items.map((r) => r.name).sort()).toEqual(['Unplanned ports on web servers', 'unplanned in web']);
      const badMap = await api.post('/alert-rules', { name: 'bad map', severityMap: [{ keyPattern: 'tcp/0', severity: 'high' }], channelIds: [channel.body['id']] });
      expect(badMap.status).toBe(400);
      expect((badMap.body['error'] as Record<string, unknown>)['message']).toMatch(/^severityMap\[0\]\.keyPattern: /);

      // Edit the rule: only what the body names changes; the whole rule is checked again.
      const ruleId = String(rule.body['id']);
      const edited = await api.patch(`/alert-rules/${ruleId}`, { filter: { minSeverity: 'critical' }, severityMap: [{ kinds: ['added'], keyPattern: 'tcp/3389', severity: 'critical' }], editedBy: 'dave' });
      expect(edited.status).toBe(200);
      expect(edited.body).toMatchObject({ name: 'unplanned in web', severity: 'high', scope: { groupIds: [groupId] }, filter: { kinds: ['added'], planned: 'unplanned', minSeverity: 'critical' }, severityMap: [{ keyPattern: 'tcp/3389', severity: 'critical' }] });
      const badEdit = await api.patch(`/alert-rules/${ruleId}`, { scope: { groupIds: ['00000000-0000-4000-8000-000000000009'] } });
      expect(badEdit.status).toBe(400);
      expect((await api.get(`/alert-rules/${ruleId}`)).body['scope']).toMatchObject({ groupIds: [groupId] }); // nothing half-stored
      expect((await api.patch(`/alert-rules/${ruleId}`, { editedBy: 'dave' })).status).toBe(400); // nothing to change

      // Edit the channel: a secret replaced stays write-only; a channel in use is not deleted.
      const channelId = String(channel.body['id']);
      const rekeyed = await api.patch(`/alert-channels/${channelId}`, { secrets: { signingSecret: 'another-signing-secret-of-32-chars!' }, editedBy: 'dave' });
      expect(rekeyed.body).toMatchObject({ name: 'soc hook', secrets: ['signingSecret'], settings: { url } });
      expect(JSON.stringify(rekeyed.body)).not.toContain('another-signing');
      const badSettings = await api.patch(`/alert-channels/${channelId}`, { settings: { url: 'gopher://127.0.0.1/' } });
      expect((badSettings.body['error'] as Record<string, unknown>)['message']).toBe('invalid webhook channel: url: gopher: is not http or https');
      expect((await api.post(`/alert-channels/${channelId}/test`, {})).body).toMatchObject({ delivered: true });
      expect(received).toHaveLength(2);
      const inUse = await api.delete(`/alert-channels/${channelId}`);
      expect(inUse.status).toBe(409);
      expect((inUse.body['error'] as Record<string, unknown>)['message']).toBe('alert channel "soc hook" is used by rule(s) "unplanned in web"; take it out of them first');
      expect((await api.post(`/alert-channels/${channelId}/retry-dead`, {})).body).toEqual({ retried: 0 });
      expect((await api.delete(`/alert-rules/${ruleId}?deletedBy=dave`)).status).toBe(204);
      expect((await api.delete(`/alert-channels/${channelId}?deletedBy=dave`)).status).toBe(204);
      expect((await api.get(`/alert-channels/${channelId}`)).status).toBe(404);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
