import 'reflect-metadata';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, IncomingMessage, Server } from 'node:http';
import { createSocket } from 'node:dgram';
import { AddressInfo, createServer as createTcpServer, Server as TcpServer } from 'node:net';
import { INestApplicationContext, Module } from '@nestjs/common';
import { generate } from 'selfsigned';
import { SMTPServer } from 'smtp-server';
import { Alert, alertTitle, deliver } from '@portolan/alerts';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { Bus } from '@portolan/bus';
import { loadPlatformConfig } from '@portolan/config';
import { EventRecorded, Messages } from '@portolan/contracts';
import { createTestDatabase } from '@portolan/persistence';
import { AlertChannelStore, BUS, DATA_SOURCE, PlatformModule } from '@portolan/platform';
import { AlertingModule } from './alerting.module';

const SECRET = 'a-signing-secret-of-32-characters!';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A webhook receiver on 127.0.0.1 that checks each request's signature; `failFirst` answers 503
 * to that many requests first; `holdMs` holds each answer that long (the request is recorded at once).
 */
async function webhookReceiver() {
  const received: { body: Record<string, unknown>; headers: IncomingMessage['headers']; signatureValid: boolean; path: string }[] = [];
  const state = { failFirst: 0, requests: 0, holdMs: 0 };
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests += 1;
      if (state.failFirst > 0) {
        state.failFirst -= 1;
        res.writeHead(503).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const expected = `v1=${createHmac('sha256', SECRET).update(`${req.headers['x-portolan-timestamp']}.${raw}`).digest('hex')}`;
      received.push({ body: JSON.parse(raw) as Record<string, unknown>, headers: req.headers, signatureValid: req.headers['x-portolan-signature'] === expected, path: req.url ?? '' });
      if (state.holdMs > 0) setTimeout(() => res.writeHead(204).end(), state.holdMs);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { received, state, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A syslog receiver over TCP on 127.0.0.1 that reads RFC 6587 octet-counted frames. */
async function syslogReceiver() {
  const frames: string[] = [];
  const server: TcpServer = createTcpServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString());
        if (buffer.length < space + 1 + length) break;
        frames.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
        buffer = buffer.subarray(space + 1 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { frames, port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function until(what: string, ready: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Alerting against the real Postgres and NATS JetStream, with receivers started by the test on
 * 127.0.0.1: rules match (unplanned only, port pattern, group scope), webhooks are signed,
 * syslog carries RFC 5424 with CEF, a redelivered event never alerts twice, a receiver that is
 * down for a while gets every alert once, and one that stays down ends with dead deliveries and
 * a degraded channel.
 */
describe('alerting (Postgres + NATS JetStream, receivers on loopback)', () => {
  let app: INestApplicationContext;
  let db: DataSource;
  let bus: Bus;
  let drop: () => Promise<void>;
  let webhook: Awaited<ReturnType<typeof webhookReceiver>>;
  let syslog: Awaited<ReturnType<typeof syslogReceiver>>;
  let ops: Awaited<ReturnType<typeof webhookReceiver>>;
  let deviceId: string;
  let webhookChannel: string;

  /** A channel as the API stores it: its secrets sealed when it has any. Answers its id. */
  const addChannel = async (name: string, type: string, settings: Record<string, unknown>, secrets?: Record<string, string>, id: string = randomUUID()): Promise<string> => {
    const sealed = secrets ? app.get(AlertChannelStore).seal(id, secrets) : undefined;
    await db.query(`INSERT INTO alert_channels (id, name, type, settings, secret_ciphertext, secret_fields, created_at) VALUES ($1, $2, $3, $4, $5, $6, now())`, [
      id,
      name,
      type,
      JSON.stringify(settings),
      sealed?.ciphertext ?? null,
      JSON.stringify(sealed?.fields ?? []),
    ]);
    return id;
  };
  /** A rule on the given channels; scope lists not given are empty. Answers its id. */
  const addRule = async (
    name: string,
    rule: { scope?: { deviceIds?: string[]; groupIds?: string[]; siteIds?: string[] }; filter: Record<string, unknown>; severity: string; channels: string[]; storm?: { maxAlerts: number; windowSeconds: number } },
  ): Promise<string> => {
    const id = randomUUID();
    await db.query(`INSERT INTO alert_rules (id, name, enabled, scope, filter, severity, channel_ids, storm, created_at) VALUES ($1, $2, true, $3, $4, $5, $6, $7, now())`, [
      id,
      name,
      JSON.stringify({ deviceIds: [], groupIds: [], siteIds: [], trackerIds: [], ...rule.scope }),
      JSON.stringify(rule.filter),
      rule.severity,
      rule.channels,
      rule.storm ? JSON.stringify(rule.storm) : null,
    ]);
    return id;
  };

  beforeAll(async () => {
    process.env['ALERTING_POLL_MS'] = '100';
    process.env['ALERTING_MAX_ATTEMPTS'] = '3';
    process.env['ALERTING_CONSOLE_URL'] = 'https://hub.example.test:8443';
    const database = await createTestDatabase('portolan_alerting');
    drop = database.drop;
    const config = loadPlatformConfig({ DATABASE_URL: database.url, NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', LOG_LEVEL: 'silent', PORTOLAN_DATA_DIR: 'memory://' });
    @Module({ imports: [PlatformModule.forRoot({ service: 'alerting-test', version: 'test', config }), AlertingModule] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    await app.init();
    db = app.get(DATA_SOURCE);
    bus = app.get(BUS);
    webhook = await webhookReceiver();
    syslog = await syslogReceiver();
    ops = await webhookReceiver();
    [{ id: deviceId }] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('web-01', 'host', '127.0.0.61', '127.0.0.61', 1) RETURNING id`);
    const groupId = randomUUID();
    await db.query(`INSERT INTO device_groups (id, name, created_at) VALUES ($1, 'web', now())`, [groupId]);
    await db.query(`INSERT INTO device_group_members (group_id, device_id) VALUES ($1, $2)`, [groupId, deviceId]);
    webhookChannel = await addChannel('soc webhook', 'webhook', { url: `http://127.0.0.1:${webhook.port}/hook`, headers: { 'x-team': 'soc' } }, { signingSecret: SECRET });
    const syslogChannel = await addChannel('siem', 'syslog', { host: '127.0.0.1', port: syslog.port, transport: 'tcp', format: 'cef' });
    await addRule('RDP exposed', {
      scope: { groupIds: [groupId] },
      filter: { kinds: ['added'], itemTypes: ['port'], planned: 'unplanned', keyPattern: 'tcp/3389' },
      severity: 'high',
      channels: [webhookChannel, syslogChannel],
    });
    // The hub's own health, to another team's webhook: a degraded channel pages someone.
    const opsChannel = await addChannel('ops webhook', 'webhook', { url: `http://127.0.0.1:${ops.port}/ops` }, { signingSecret: SECRET });
    await addRule('Hub health', {
      filter: { kinds: ['communications'], itemTypes: [], planned: 'both', what: ['alert-channel-degraded', 'alert-channel-recovered'] },
      severity: 'critical',
      channels: [opsChannel],
    });
    // The intake reads rules at most every 2 s, and it may have read them (none yet) while it
    // worked through events other test files left on the shared stream.
    await sleep(2_100);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await webhook?.close();
    await syslog?.close();
    await ops?.close();
    await drop?.();
  });

  const event = (over: Partial<EventRecorded> = {}): EventRecorded => ({
    eventId: randomUUID(),
    kind: 'added',
    deviceId,
    trackerId: null,
    jobId: null,
    host: '127.0.0.61',
    itemType: 'port',
    itemKey: 'tcp/3389',
    before: null,
    after: { protocol: 'tcp', port: 3389, state: 'open', service: 'ms-wbt-server' },
    planned: false,
    plannedChangeId: null,
    occurredAt: new Date().toISOString(),
    ...over,
  });
  const publish = (e: EventRecorded) => bus.publish(Messages.eventRecorded, e, { messageId: randomUUID() });
  const deliveries = async (status: string) => ((await db.query(`SELECT count(*)::int AS n FROM alert_deliveries WHERE status = $1`, [status])) as { n: number }[])[0].n;

  it('alerts on an unplanned RDP port in the group, signed, to the webhook and the SIEM; not on a planned one or another port; once per event', async () => {
    const rdp = event();
    await publish(rdp);
    await publish(event({ planned: true, plannedChangeId: randomUUID() }));
    await publish(event({ itemKey: 'tcp/22', after: { protocol: 'tcp', port: 22, state: 'open' } }));
    await publish(rdp); // the same event delivered again
    // The shared durable consumer may first work through events other test files left on the stream.
    await until('the webhook and syslog alerts arrived', () => webhook.received.length >= 1 && syslog.frames.length >= 1, 60_000);
    await sleep(1_000); // time for anything extra to (wrongly) arrive
    expect(webhook.received).toHaveLength(1);
    const [hook] = webhook.received;
    expect(hook.signatureValid).toBe(true);
    expect(hook.headers['x-team']).toBe('soc');
    expect(hook.body).toMatchObject({
      severity: 'high',
      rule: { name: 'RDP exposed' },
      event: { id: rdp.eventId, kind: 'added', host: '127.0.0.61', protocol: 'tcp', port: 3389, planned: false, device: { id: deviceId, name: 'web-01' } },
      link: `https://hub.example.test:8443/api/events/${rdp.eventId}`,
    });
    expect(syslog.frames).toHaveLength(1);
    expect(syslog.frames[0]).toMatch(/^<131>1 \S+ \S+ portolan - added \[portolan@32473 eventId="[0-9a-f-]+" kind="added" planned="false"\] CEF:0\|Portolan\|Portolan\|[^|]+\|added\|Unplanned: tcp\/3389 opened on 127\.0\.0\.61 \(web-01\)\|8\|/);
    expect(syslog.frames[0]).toContain('dpt=3389');
    expect(await deliveries('delivered')).toBe(2);
  }, 90_000);

  it('a receiver down for a while gets every alert once it is back, none twice', async () => {
    webhook.received.length = 0;
    webhook.state.failFirst = 4;
    const events = [event(), event(), event()];
    for (const e of events) await publish(e);
    const ids = new Set(events.map((e) => e.eventId));
    const mine = () => webhook.received.filter((r) => ids.has((r.body['event'] as { id: string }).id));
    await until('every alert arrived', () => mine().length >= 3, 25_000);
    await sleep(1_500);
    expect(mine().map((r) => (r.body['event'] as { id: string }).id).sort()).toEqual([...ids].sort());
    const retried: { attempts: number }[] = await db.query(`SELECT attempts FROM alert_deliveries WHERE channel_id = $1 AND attempts > 1`, [webhookChannel]);
    expect(retried.length).toBeGreaterThan(0);
  }, 40_000);

  it('a receiver that stays down: the delivery is dead after its attempts, the channel degraded (a communications event that alerts another channel), nothing lost', async () => {
    webhook.received.length = 0;
    webhook.state.failFirst = 1_000;
    const e = event();
    await publish(e);
    await until('the delivery is dead', async () => (await deliveries('dead')) === 1, 30_000);
    const [channel] = await db.query(`SELECT status, status_reason FROM alert_channels WHERE id = $1`, [webhookChannel]);
    expect(channel).toEqual({ status: 'degraded', status_reason: expect.stringMatching(/^POST to http:\/\/127\.0\.0\.1:\d+ answered 503$/) });
    const [dead] = await db.query(`SELECT id, attempts, last_error FROM alert_deliveries WHERE status = 'dead'`);
    expect(dead.attempts).toBe(3);
    const hubEvents = () => db.query(`SELECT kind, device_id, details FROM events WHERE kind = 'communications' AND details->>'channelId' = $1 ORDER BY occurred_at`, [webhookChannel]) as Promise<{ kind: string; device_id: string | null; details: Record<string, unknown> }[]>;
    expect(await hubEvents()).toEqual([
      { kind: 'communications', device_id: null, details: { what: 'alert-channel-degraded', channelId: webhookChannel, channelName: 'soc webhook', channelType: 'webhook', reason: channel.status_reason, deliveryId: dead.id } },
    ]);
    // The event alerts the rule for the hub's health, on the other channel.
    const opsAlerts = (what: string) => ops.received.filter((r) => ((r.body['event'] as { details?: { what?: string; channelId?: string } }).details ?? {}).channelId === webhookChannel && (r.body['event'] as { details: { what: string } }).details.what === what);
    await until('the ops webhook heard of the degraded channel', () => opsAlerts('alert-channel-degraded').length === 1, 15_000);
    const [paged] = opsAlerts('alert-channel-degraded');
    expect(paged.signatureValid).toBe(true);
    expect(paged.body).toMatchObject({ severity: 'critical', rule: { name: 'Hub health' }, event: { kind: 'communications', device: { id: null, name: null } } });
    expect(alertTitle(paged.body as unknown as Alert)).toMatch(/^Communications: alert-channel-degraded on the Portolan hub \(POST to http:\/\/127\.0\.0\.1:\d+ answered 503\)$/);
    // Back up, and retried: delivered, and the channel is healthy again (one more event: recovered).
    webhook.state.failFirst = 0;
    await db.query(`UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE status = 'dead'`);
    await until('the retried alert arrived', () => webhook.received.length === 1, 15_000);
    await until('the channel is healthy again', async () => (await db.query(`SELECT status FROM alert_channels WHERE id = $1`, [webhookChannel]))[0].status === 'healthy', 5_000);
    expect((await hubEvents()).map((h) => h.details['what'])).toEqual(['alert-channel-degraded', 'alert-channel-recovered']);
    await until('the ops webhook heard it recovered', () => opsAlerts('alert-channel-recovered').length === 1, 15_000);
    expect(opsAlerts('alert-channel-degraded')).toHaveLength(1);
    // The rule takes only those: a scan finishing on a device is not its business.
    const finished = event({ kind: 'communications', itemType: null, itemKey: null, after: null, details: { what: 'scan-finished', durationMs: 1200 } });
    await publish(finished);
    await publish(event({ kind: 'communications', itemType: null, itemKey: null, after: null, details: { what: 'alert-channel-degraded', channelId: 'elsewhere' } })); // a marker that comes after it
    await until('the marker reached the ops webhook', () => ops.received.some((r) => (r.body['event'] as { details?: { channelId?: string } }).details?.channelId === 'elsewhere'), 15_000);
    expect(ops.received.some((r) => (r.body['event'] as { id: string }).id === finished.eventId)).toBe(false);
  }, 60_000);

  it("a rule scoped to a site hears of that site's workers going silent (an event with no device, its site in details)", async () => {
    const [site] = await db.query(`INSERT INTO sites (name) VALUES ('branch-alerts') RETURNING id`);
    const opsChannel = (await db.query(`SELECT id FROM alert_channels WHERE name = 'ops webhook'`))[0].id as string;
    await addRule('Branch scanners', { scope: { siteIds: [site.id] }, filter: { kinds: ['communications'], itemTypes: [], planned: 'both', what: ['worker-offline'] }, severity: 'high', channels: [opsChannel] });
    await sleep(2_100); // the intake reads rules at most every 2 s
    const silent = (siteId: string | null) => event({ kind: 'communications', deviceId: null, host: null, itemType: null, itemKey: null, after: null, details: { what: 'worker-offline', worker: 'scanner-9', siteId } });
    const [ours, elsewhere, everySite] = [silent(site.id), silent(randomUUID()), silent(null)];
    for (const e of [ours, elsewhere, everySite]) await publish(e);
    const heard = () => ops.received.filter((r) => (r.body['rule'] as { name?: string } | undefined)?.name === 'Branch scanners').map((r) => (r.body['event'] as { id: string }).id);
    await until('the ops webhook heard of the silent scanner', () => heard().length >= 1, 15_000);
    await sleep(500); // the others, had they matched, would have come by now
    expect(heard()).toEqual([ours.eventId]);
  }, 30_000);

  it('storm control: 500 changes in a minute alert the rule\'s 10, the other 490 arrive as one summary; a digest rule sends only the summary', async () => {
    const burst = await webhookReceiver();
    try {
      const [{ id: noisyDevice }] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('noisy', 'host', '127.0.0.62', '127.0.0.62', 1) RETURNING id`);
      const anyChange = { kinds: [], itemTypes: [], planned: 'both', keyPattern: null };
      const channel = await addChannel('burst hook', 'webhook', { url: `http://127.0.0.1:${burst.port}/hook` }, { signingSecret: SECRET });
      const ruleId = await addRule('any change on noisy', { scope: { deviceIds: [noisyDevice] }, filter: anyChange, severity: 'medium', channels: [channel], storm: { maxAlerts: 10, windowSeconds: 60 } });
      // A digest: the same changes, none alerted one by one, one summary per window.
      const digestChannel = await addChannel('digest hook', 'webhook', { url: `http://127.0.0.1:${burst.port}/digest` });
      const digestRule = await addRule('digest of noisy', { scope: { deviceIds: [noisyDevice] }, filter: anyChange, severity: 'info', channels: [digestChannel], storm: { maxAlerts: 0, windowSeconds: 60 } });
      await sleep(2_100); // the intake reads rules at most every 2 s
      // All 500 inside one minute-long window: start early in one.
      const intoWindow = Date.now() % 60_000;
      if (intoWindow > 20_000) await sleep(60_000 - intoWindow + 200);
      const events = Array.from({ length: 500 }, (_, i) => event({ deviceId: noisyDevice, host: '127.0.0.62', itemKey: `tcp/${41000 + i}` }));
      for (const e of events) await publish(e);
      const storms = async () => (await db.query(`SELECT alerted, suppressed, summarized_at FROM alert_storms WHERE rule_id = $1`, [ruleId])) as { alerted: number; suppressed: number; summarized_at: Date | null }[];
      await until('every event counted and every window summarized', async () => {
        const s = await storms();
        return s.reduce((n, w) => n + w.alerted + w.suppressed, 0) === 500 && s.every((w) => w.suppressed === 0 || w.summarized_at !== null);
      }, 100_000);
      const windows = await storms();
      expect(windows.map((w) => [w.alerted, w.suppressed])).toEqual([[10, 490]]); // one window: its 10, the rest held back
      await until('the alerts and the summary arrived', () => burst.received.filter((r) => r.path === '/hook').length >= 11, 15_000);
      const digest = async () => (await db.query(`SELECT suppressed, summarized_at FROM alert_storms WHERE rule_id = $1`, [digestRule])) as { suppressed: number; summarized_at: Date | null }[];
      await until('the digest window is summarized', async () => {
        const d = await digest();
        return d.reduce((n, w) => n + w.suppressed, 0) === 500 && d.every((w) => w.summarized_at !== null);
      }, 30_000);
      await until('the digest arrived', () => burst.received.filter((r) => r.path === '/digest').length >= 1, 15_000);
      await sleep(1_000); // time for anything extra to (wrongly) arrive
      const digests = burst.received.filter((r) => r.path === '/digest');
      expect(digests).toHaveLength(1);
      expect(digests[0].body['summary']).toMatchObject({ suppressed: 500, windowSeconds: 60 });
      expect((digests[0].body['summary'] as { samples: unknown[] }).samples).toHaveLength(100); // the first 100 listed
      const mine = burst.received.filter((r) => r.path === '/hook');
      const single = mine.filter((r) => !r.body['summary']);
      const summary = mine.filter((r) => r.body['summary']);
      expect(single).toHaveLength(10);
      expect(summary).toHaveLength(1);
      expect(summary[0].body['summary']).toMatchObject({ suppressed: 490 });
      const ids = new Set(events.map((e) => e.eventId));
      expect(single.every((r) => ids.has((r.body['event'] as { id: string }).id))).toBe(true);
      expect((summary[0].body['summary'] as { samples: { eventId: string }[] }).samples.every((x) => ids.has(x.eventId))).toBe(true);
      expect(mine.every((r) => r.signatureValid)).toBe(true);
    } finally {
      await burst.close();
    }
  }, 200_000);

  it('Slack, Teams, PagerDuty, Splunk HEC and syslog over UDP (JSON) receive their own shapes', async () => {
    const receiver = await webhookReceiver();
    try {
      const [{ id: dbDevice }] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('db-01', 'host', '127.0.0.63', '127.0.0.63', 1) RETURNING id`);
      const base = `http://127.0.0.1:${receiver.port}`;
      const udp = createSocket('udp4');
      const datagrams: string[] = [];
      udp.on('message', (m) => datagrams.push(m.toString('utf8')));
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      const channels: [string, string, Record<string, unknown>, Record<string, string>][] = [
        ['siem-udp', 'syslog', { host: '127.0.0.1', port: udp.address().port, transport: 'udp', format: 'json' }, {}],
        ['slack', 'slack', {}, { url: `${base}/slack` }],
        ['teams', 'teams', {}, { url: `${base}/teams` }],
        ['pagerduty', 'pagerduty', { url: `${base}/pagerduty` }, { routingKey: 'R0UTINGKEY' }],
        ['hec', 'splunk-hec', { url: `${base}/hec`, index: 'soc' }, { token: 'hec-token-1' }],
      ];
      const ids: string[] = [];
      for (const [name, type, settings, secrets] of channels) ids.push(await addChannel(name, type, settings, secrets));
      await addRule('db ports', { scope: { deviceIds: [dbDevice] }, filter: { kinds: ['added'], itemTypes: [], planned: 'both', keyPattern: null }, severity: 'critical', channels: ids });
      await sleep(2_100); // the intake reads rules at most every 2 s
      const e = event({ deviceId: dbDevice, host: '127.0.0.63', itemKey: 'tcp/5432', after: { protocol: 'tcp', port: 5432, state: 'open' } });
      await publish(e);
      await until('four deliveries and a datagram', () => receiver.received.length >= 4 && datagrams.length >= 1, 20_000);
      udp.close();
      expect(datagrams).toHaveLength(1);
      const json = datagrams[0].slice(datagrams[0].indexOf('] ') + 2);
      expect(datagrams[0]).toMatch(/^<130>1 /); // local0, critical
      expect(JSON.parse(json)).toMatchObject({ severity: 'critical', event: { id: e.eventId, itemKey: 'tcp/5432' } });
      const by = Object.fromEntries(receiver.received.map((r) => [r.path, r]));
      expect(by['/slack'].body).toMatchObject({ text: 'Unplanned: tcp/5432 opened on 127.0.0.63 (db-01)', blocks: expect.arrayContaining([expect.objectContaining({ type: 'header' })]) });
      expect(by['/teams'].body).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: { type: 'AdaptiveCard' } }] });
      expect(by['/pagerduty'].body).toMatchObject({ routing_key: 'R0UTINGKEY', event_action: 'trigger', dedup_key: expect.stringContaining(e.eventId), payload: { severity: 'critical', source: '127.0.0.63', component: 'tcp/5432' } });
      expect(by['/hec'].headers['authorization']).toBe('Splunk hec-token-1');
      expect(by['/hec'].body).toMatchObject({ source: 'portolan', sourcetype: 'portolan:alert', index: 'soc', event: { event: { id: e.eventId } } });
    } finally {
      await receiver.close();
    }
  }, 40_000);

  it('a PagerDuty trigger cancelled while it is being sent (its change became planned) is recorded delivered, and its incident resolved', async () => {
    const receiver = await webhookReceiver();
    try {
      const [{ id: device }] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('pd-01', 'host', '127.0.0.64', '127.0.0.64', 1) RETURNING id`);
      const channelId = await addChannel('on call', 'pagerduty', { url: `http://127.0.0.1:${receiver.port}/pagerduty` }, { routingKey: 'R0UTINGKEY' });
      await addRule('pd ports', { scope: { deviceIds: [device] }, filter: { kinds: ['added'], itemTypes: [], planned: 'both', keyPattern: null }, severity: 'critical', channels: [channelId] });
      await sleep(2_100); // the intake reads rules at most every 2 s
      receiver.state.holdMs = 1_500;
      const e = event({ deviceId: device, host: '127.0.0.64', itemKey: 'tcp/5433', after: { protocol: 'tcp', port: 5433, state: 'open' } });
      await publish(e);
      await until('the trigger reached PagerDuty', () => receiver.received.length >= 1, 20_000);
      receiver.state.holdMs = 0;
      // What the planned change's re-evaluation does to a trigger not delivered yet.
      await db.query(`UPDATE alert_deliveries SET status = 'cancelled', last_error = 'not sent: a planned change covers the change now' WHERE event_id = $1 AND status = 'pending'`, [e.eventId]);
      await until('the resolve reached PagerDuty', () => receiver.received.length >= 2, 20_000);
      const [trigger, resolve] = receiver.received.map((r) => r.body);
      expect(trigger).toMatchObject({ event_action: 'trigger', dedup_key: expect.stringContaining(e.eventId) });
      expect(resolve).toEqual({ routing_key: 'R0UTINGKEY', event_action: 'resolve', dedup_key: trigger['dedup_key'] });
      await until('both recorded delivered', async () => ((await db.query(`SELECT count(*)::int AS n FROM alert_deliveries WHERE event_id = $1 AND status = 'delivered'`, [e.eventId])) as { n: number }[])[0].n === 2, 10_000);
      await sleep(500);
      expect(receiver.received).toHaveLength(2);
    } finally {
      await receiver.close();
    }
  }, 40_000);

  it('e-mail over SMTP with STARTTLS and a login reaches a real SMTP server; an unreachable one is a clear error', async () => {
    const pems = await generate([{ name: 'commonName', value: 'smtp.test' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    const mails: { from: string; to: string[]; raw: string; user: string }[] = [];
    const smtp = new SMTPServer({
      key: pems.private,
      cert: pems.cert,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth: (auth, _session, callback) => (auth.username === 'alerts' && auth.password === 'mail-pass' ? callback(null, { user: auth.username }) : callback(new Error('bad login'))),
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({ from: String(session.envelope.mailFrom && session.envelope.mailFrom.address), to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), user: String(session.user) });
          callback();
        });
      },
      logger: false,
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    try {
      const port = (smtp.server.address() as AddressInfo).port;
      const [{ id: mailDevice }] = await db.query(`INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('mail-01', 'host', '127.0.0.64', '127.0.0.64', 1) RETURNING id`);
      const channel = await addChannel(
        'soc mail',
        'email',
        { host: '127.0.0.1', port, security: 'starttls', from: 'portolan@hub.example.test', to: ['soc@corp.example.test'], ca: pems.cert },
        { username: 'alerts', password: 'mail-pass' },
      );
      await addRule('mail', { scope: { deviceIds: [mailDevice] }, filter: { kinds: [], itemTypes: [], planned: 'both', keyPattern: null }, severity: 'low', channels: [channel] });
      await sleep(2_100); // the intake reads rules at most every 2 s
      await publish(event({ deviceId: mailDevice, host: '127.0.0.64', itemKey: 'tcp/25', after: { protocol: 'tcp', port: 25, state: 'open' } }));
      await until('the e-mail arrived', () => mails.length === 1, 20_000);
      expect(mails[0]).toMatchObject({ from: 'portolan@hub.example.test', to: ['soc@corp.example.test'], user: 'alerts' });
      expect(mails[0].raw).toContain('Subject: Unplanned: tcp/25 opened on 127.0.0.64 (mail-01)');
      expect(mails[0].raw).toContain('Content-Type: text/html');

      const store = app.get(AlertChannelStore);
      const unreachable = await addChannel('nowhere', 'email', { host: '127.0.0.1', port: await closedPort(), security: 'starttls', from: 'portolan@hub.example.test', to: ['soc@corp.example.test'] });
      const loaded = await store.load(db.manager, unreachable);
      await expect(deliver(loaded.settings, loaded.secrets, { id: 'x', rule: { id: 'r', name: 'r' }, severity: 'info', event: { id: 'e', kind: 'added', occurredAt: new Date().toISOString(), device: { id: 'd', name: null }, host: null, itemType: null, itemKey: null, protocol: null, port: null, before: null, after: null, planned: false, plannedChangeId: null }, link: 'about:blank' }, { hostname: 'test', version: 'test' })).rejects.toThrow(/^SMTP 127\.0\.0\.1:\d+: (ECONNECTION|ECONNREFUSED|ESOCKET)/);
    } finally {
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  }, 40_000);
});

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
