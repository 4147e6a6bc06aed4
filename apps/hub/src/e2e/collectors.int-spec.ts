import { randomBytes } from 'node:crypto';
import { createServer, Socket } from 'node:net';
import { Client } from 'pg';
import { EmulatedDeviceState, newEd25519KeyPair, prepareTestUser, RunningEmulator, startSamba, startSshd, startSshDevice, TEST_USER, WINDOWS_REGISTRY } from '@portolan/collectors/testing';
import { waitFor } from './agent-e2e.support';
import { ApiClient } from './api.client';
import { DistributedHub } from './distributed.hub';
import { LoopbackListeners } from './loopback.listeners';
import { freePort } from './service.process';

interface EventItem {
  kind: string;
  host: string | null;
  itemType: string | null;
  itemKey: string | null;
  jobId: string | null;
  details: Record<string, unknown> | null;
}

/**
 * Agentless collection through the distributed hub: gateway, scheduler, comparer and a collector
 * as processes over Postgres and NATS JetStream, reading an emulated IOS router over SSH, a
 * Linux host through the real OpenSSH sshd, and a Windows registry through the real Samba smbd.
 */
describe('agentless collectors end to end (distributed hub, Postgres, NATS JetStream)', () => {
  let hub: DistributedHub;
  const listeners = new LoopbackListeners();
  const login = { username: 'netops', password: `np-${randomBytes(6).toString('hex')}` };
  const hostKeyA = newEd25519KeyPair().private;
  const hostKeyB = newEd25519KeyPair().private;
  const routerState: EmulatedDeviceState = { hostname: 'lab-rtr9', configExtras: {}, enableSecret: 'en-9', clock: () => new Date().toISOString().slice(11, 19) };
  let router: RunningEmulator;
  let routerPort: number;
  let api: ApiClient;
  let sql: Client;
  let password: string;
  const stoppers: (() => Promise<void>)[] = [];

  const events = async (trackerId: string, type = 'added,removed,modified') => (await api.get<{ items: EventItem[] }>(`/events?trackerId=${trackerId}&type=${type}&limit=500`)).body.items;
  const run = async (trackerId: string) => {
    const started = await api.post(`/trackers/${trackerId}/run`, {});
    expect(started.status).toBe(202);
    return hub.logsOnFailure(() => api.waitForJob(String(started.body['jobId']), 60_000));
  };
  const device = async (name: string, address: string, credential: Record<string, unknown>) => {
    const cred = await api.post('/credentials', { name: `${name}-cred`, ...credential });
    expect(cred.status).toBe(201);
    const dev = await api.post('/devices', { name, kind: 'host', address, credentialId: cred.body['id'] });
    expect(dev.status).toBe(201);
    return String(dev.body['id']);
  };
  const tracker = async (deviceId: string, collector: Record<string, unknown>, ports = '1-65535') => {
    const created = await api.post('/trackers', {
      name: `collect ${String(collector['profile'])}`,
      deviceId,
      type: 'network-port',
      mode: 'agentless',
      collector,
      ports: [{ range: ports, protocol: 'both' }],
      schedule: { kind: 'interval', every: '1h' },
      sendBaselineEvents: false,
    });
    expect(created.status).toBe(201);
    return String(created.body['id']);
  };

  beforeAll(async () => {
    password = prepareTestUser();
    routerPort = await freePort();
    router = await startSshDevice('cisco-ios', '127.0.0.101', login, routerState, hostKeyA, routerPort);
    hub = await DistributedHub.create('portolan_collect_e2e', { PORTOLAN_MASTER_KEYS: randomBytes(32).toString('base64') });
    sql = hub.sql;
    api = new ApiClient((await hub.gateway()).url);
    await hub.start('scheduler', 'comparer', 'collector');
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    await router?.close();
    for (const stop of stoppers.reverse()) await stop();
    await listeners.closeAll();
  }, 60_000);

  it('turns a configuration line added on an IOS router between two polls into exactly one added event; volatile lines never are', async () => {
    const deviceId = await device('lab-rtr9', '127.0.0.101', { type: 'ssh-password', ...login, enableSecret: 'en-9' });
    const trackerId = await tracker(deviceId, { protocol: 'ssh', profile: 'cisco-ios', port: routerPort }, '1-1024');
    expect((await run(trackerId))['status']).toBe('succeeded');
    const baseline = (await api.get<{ items: { type: string; key: string }[] }>(`/devices/${deviceId}/items?limit=1000`)).body.items;
    expect(baseline.filter((i) => i.type === 'port').map((i) => i.key)).toEqual(['tcp/22@*', 'tcp/23@*', 'tcp/80@*', 'udp/123@*', 'udp/161@*', 'udp/162@*']);
    expect(baseline.filter((i) => i.type === 'config-line').map((i) => i.key)).toContain('line vty 0 4 :: transport input ssh');

    routerState.configExtras['vty'] = ' transport input telnet\n';
    expect((await run(trackerId))['status']).toBe('succeeded');
    expect((await run(trackerId))['status']).toBe('succeeded'); // a third poll: the clock lines moved again
    const changes = await events(trackerId);
    expect(changes.map((e) => `${e.kind} ${e.itemType} ${e.itemKey}`)).toEqual(['added config-line line vty 0 4 :: transport input telnet']);

    const key = await api.get<{ fingerprint: string; pendingFingerprint: string | null }>(`/devices/${deviceId}/host-key`);
    expect(key.body).toMatchObject({ fingerprint: expect.stringMatching(/^SHA256:/), pendingFingerprint: null });
  }, 120_000);

  it('refuses a router whose SSH host key changed, names both fingerprints in a communications event, and reads it again once an operator accepts the new key', async () => {
    const { body: devices } = await api.get<{ items: { id: string; name: string }[] }>('/devices');
    const deviceId = devices.items.find((d) => d.name === 'lab-rtr9')!.id;
    const { body: trackers } = await api.get<{ items: { id: string; deviceId: string }[] }>('/trackers');
    const trackerId = trackers.items.find((t) => t.deviceId === deviceId)!.id;
    const pinned = (await api.get<{ fingerprint: string }>(`/devices/${deviceId}/host-key`)).body.fingerprint;

    await router.close();
    router = await startSshDevice('cisco-ios', '127.0.0.101', login, routerState, hostKeyB, routerPort);
    const failed = await run(trackerId);
    expect(failed['status']).toBe('failed');
    const comms = await events(trackerId, 'communications');
    const event = comms.find((e) => e.jobId === failed['id'] && e.details?.['what'] === 'scan-failed');
    expect(String(event?.details?.['reason'])).toContain(`pinned ssh-ed25519 ${pinned}, presented ssh-ed25519 SHA256:`);
    const waiting = (await api.get<{ fingerprint: string; pendingFingerprint: string }>(`/devices/${deviceId}/host-key`)).body;
    expect(waiting.fingerprint).toBe(pinned);
    expect(waiting.pendingFingerprint).not.toBe(pinned);
    expect(await events(trackerId)).toHaveLength(1); // nothing removed by the failed run

    const wrong = await api.post<{ error: { message: string } }>(`/devices/${deviceId}/host-key/accept`, { fingerprint: `SHA256:${'A'.repeat(43)}` });
    expect(wrong.status).toBe(409);
    expect((await api.post(`/devices/${deviceId}/host-key/accept`, { fingerprint: waiting.pendingFingerprint })).status).toBe(200);
    expect((await run(trackerId))['status']).toBe('succeeded');
    expect(await events(trackerId)).toHaveLength(1);
  }, 120_000);

  it('reads a Linux host over SSH (OpenSSH sshd): a listener opened is added, closed is removed', async () => {
    const sshd = await startSshd({ port: 2222 });
    stoppers.push(() => sshd.stop());
    const deviceId = await device('linux-1', '127.0.0.1', { type: 'ssh-password', username: TEST_USER, password });
    // The readout lists every socket of this machine: ports below the ephemeral range (`LoopbackListeners`).
    const trackerId = await tracker(deviceId, { protocol: 'ssh', profile: 'linux', port: 2222 }, '30500-30599');
    expect((await run(trackerId))['status']).toBe('succeeded');
    await listeners.open('127.0.0.102', 30510);
    expect((await run(trackerId))['status']).toBe('succeeded');
    await listeners.close('127.0.0.102', 30510);
    expect((await run(trackerId))['status']).toBe('succeeded');
    expect((await events(trackerId)).map((e) => `${e.kind} ${e.itemKey}`).reverse()).toEqual(['added tcp/30510@127.0.0.102', 'removed tcp/30510@127.0.0.102']);
  }, 120_000);

  it('reads a Windows registry over SMB (Samba smbd): a new inbound firewall rule is exactly one change event', async () => {
    const samba = await startSamba({ port: 445, registry: WINDOWS_REGISTRY, password });
    stoppers.push(() => samba.stop());
    const deviceId = await device('win-1', '127.0.0.1', { type: 'smb', domain: 'LAB', username: TEST_USER, password });
    const trackerId = await tracker(deviceId, { protocol: 'smb', profile: 'windows' });
    expect((await run(trackerId))['status']).toBe('succeeded');
    samba.setValue('HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules', 'Open-9443-In', 'sz', 'v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=9443|Name=Open 9443|');
    expect((await run(trackerId))['status']).toBe('succeeded');
    const changes = await events(trackerId);
    expect(changes.map((e) => `${e.kind} ${e.itemType} ${e.itemKey}`)).toEqual(['added firewall-rule Open-9443-In']);
  }, 120_000);

  it('flags a device read over Telnet as insecure', async () => {
    const deviceId = await device('legacy-1', '127.0.0.108', { type: 'telnet', username: 'admin', password: 'x-legacy' });
    expect((await api.get(`/devices/${deviceId}`)).body['insecure']).toBe(false);
    await tracker(deviceId, { protocol: 'telnet', profile: 'cisco-ios', port: 2323 });
    expect((await api.get(`/devices/${deviceId}`)).body).toMatchObject({ insecure: true, insecureReason: expect.stringContaining('Telnet') });
  }, 30_000);

  it('refuses an agentless tracker it could never run, naming why, and stores nothing', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM trackers')).rows[0].n;
    const smbDevice = await device('win-2', '127.0.0.104', { type: 'smb', username: TEST_USER, password });
    const bare = await api.post('/devices', { name: 'no-cred', kind: 'host', address: '127.0.0.105' });
    const range = await api.post('/devices', { name: 'a-range', kind: 'network', address: '127.0.0.106-107' });
    const attempt = (deviceId: unknown, collector: Record<string, unknown> | undefined) =>
      api.post<{ error: { message: string } }>('/trackers', { name: 'x', deviceId, type: 'network-port', mode: 'agentless', collector, ports: [{ range: '22', protocol: 'tcp' }], schedule: { kind: 'interval', every: '1h' }, sendBaselineEvents: false });
    for (const [deviceId, collector, message] of [
      [smbDevice, { protocol: 'ssh', profile: 'nokia-sros' }, 'collector.profile "nokia-sros" is not a device profile'],
      [smbDevice, { protocol: 'ssh', profile: 'windows' }, 'profile windows is read over smb, not ssh'],
      [smbDevice, { protocol: 'ssh', profile: 'linux' }, 'the credential of device "win-2" is smb; ssh needs ssh-password or ssh-key'],
      [bare.body['id'], { protocol: 'ssh', profile: 'linux' }, 'device "no-cred" has no credential'],
      [range.body['id'], { protocol: 'ssh', profile: 'linux' }, 'an agentless collector reads one device; device "a-range" covers 2 hosts'],
      [smbDevice, undefined, 'mode "agentless" needs collector'],
    ] as const) {
      const refused = await attempt(deviceId, collector);
      expect({ status: refused.status, message: refused.body.error.message }).toEqual({ status: 400, message: expect.stringContaining(message) });
    }
    expect((await sql.query('SELECT count(*)::int AS n FROM trackers')).rows[0].n).toBe(before);
  }, 60_000);

  it('records what went wrong as a communications event and keeps the baseline: wrong credentials, a refused port', async () => {
    const { body: devices } = await api.get<{ items: { id: string; name: string }[] }>('/devices');
    const deviceId = devices.items.find((d) => d.name === 'lab-rtr9')!.id;
    const before = (await api.get<{ items: unknown[] }>(`/devices/${deviceId}/items?limit=1000`)).body.items.length;
    const wrongCred = await device('lab-rtr9-wrong', '127.0.0.101', { type: 'ssh-password', username: login.username, password: 'wrong', enableSecret: 'en-9' });
    const wrongTracker = await tracker(wrongCred, { protocol: 'ssh', profile: 'cisco-ios', port: routerPort });
    const refusedDevice = await device('nothing-there', '127.0.0.103', { type: 'ssh-password', ...login });
    const refusedTracker = await tracker(refusedDevice, { protocol: 'ssh', profile: 'cisco-ios', port: await freePort() });
    for (const [id, reason] of [
      [wrongTracker, `the device refused the credentials of user "${login.username}"`],
      [refusedTracker, 'connection refused'],
    ]) {
      const job = await run(id);
      expect(job['status']).toBe('failed');
      const event = (await events(id, 'communications')).find((e) => e.details?.['what'] === 'scan-failed');
      expect(String(event?.details?.['reason'])).toContain(reason);
    }
    expect((await api.get<{ items: unknown[] }>(`/devices/${deviceId}/items?limit=1000`)).body.items).toHaveLength(before);
    const logs = hub.processes.map((p) => p.log).join('\n');
    for (const secret of [password, login.password, 'en-9']) expect(logs).not.toContain(secret);
  }, 120_000);
  it('drops a collection an operator cancels while it is under way: not retried, nothing sent', async () => {
    // A device that takes the connection and never says a word: the collection waits for its SSH banner until the connect timeout.
    const sockets = new Set<Socket>();
    const mute = createServer((socket) => void sockets.add(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => mute.listen({ host: '127.0.0.104', port }, resolve));
    stoppers.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => mute.close(resolve));
    });
    const created = await api.post('/trackers', {
      name: 'collect a mute switch',
      deviceId: await device('mute-switch', '127.0.0.104', { type: 'ssh-password', ...login }),
      type: 'network-port',
      mode: 'agentless',
      collector: { protocol: 'ssh', profile: 'cisco-ios', port },
      ports: [{ range: '1-1024', protocol: 'tcp' }],
      schedule: { kind: 'cron', cron: '0 0 1 1 *' }, // no run of its own meanwhile: the one asked here alone connects
      sendBaselineEvents: false,
    });
    const trackerId = String(created.body['id']);
    const jobId = String((await api.post(`/trackers/${trackerId}/run`, {})).body['jobId']);
    await waitFor('the collection to be under way', async () => (await api.get<{ scans: { status: string }[] }>(`/jobs/${jobId}`)).body.scans?.[0]?.status === 'running' && sockets.size > 0, Boolean, 30_000);

    const cancelled = await api.post(`/jobs/${jobId}/cancel`, { reason: 'maintenance window' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/^cancelled by .+: maintenance window$/) });
    const collector = hub.processes.find((p) => p.name === 'collector');
    const log = await waitFor('the collector to give up on the device', async () => collector?.log ?? '', (text) => text.includes('collection failed, not retried: its job was cancelled'), 40_000);
    // One attempt, given up: neither retried nor reported.
    const lines = log.split('\n').filter((line) => line.includes(jobId));
    expect(lines.map((line) => JSON.parse(line) as { msg: string; err: string })).toEqual([expect.objectContaining({ msg: 'collection failed, not retried: its job was cancelled', err: expect.stringContaining('127.0.0.104') })]);
    expect(sockets.size).toBe(1);
    expect((await api.get(`/jobs/${jobId}`)).body).toMatchObject({ status: 'failed', error: cancelled.body['error'] });
  }, 90_000);
});
