import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './agent-e2e.support';
import { ApiClient, ApiResponse } from './api.client';
import { DistributedHub } from './distributed.hub';
import { ServiceProcess, sleep, TEST_ADMIN_TOKEN } from './service.process';

type ErrorBody = { error: { code: string; message: string } };
type TokenView = { id: string; name: string; role: string; tokenHint: string; createdBy: string; revokedAt: string | null; revokedBy: string | null; lastUsedAt: string | null };
type Created = TokenView & { token: string };

/**
 * The operator API's tokens, against gateway processes on the real Postgres: every route but
 * health, the API description and the agent API needs one; viewers only read; a revoked or
 * expired token stops working; the last admin token stays; no token reaches a log.
 */
describe('operator API authentication (gateway processes, Postgres)', () => {
  let hub: DistributedHub;
  let gateway: ServiceProcess;
  let admin: ApiClient;
  let anonymous: ApiClient;
  const made: string[] = [];
  let aliceToken = '';

  const expectRefused = (response: ApiResponse<unknown>, status: number, code: string, message: RegExp) =>
    expect({ status: response.status, code: (response.body as ErrorBody).error?.code, message: (response.body as ErrorBody).error?.message }).toEqual({ status, code, message: expect.stringMatching(message) });
  const count = async (table: string): Promise<number> => Number((await hub.sql.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
  const make = async (by: ApiClient, body: Record<string, unknown>): Promise<Created> => {
    const created = await by.post<Created>('/operator-tokens', body);
    expect(created.status).toBe(201);
    made.push(created.body.token);
    return created.body;
  };

  beforeAll(async () => {
    // The suite makes many failed calls from 127.0.0.1 on purpose: the limit on them has its own gateway below.
    hub = await DistributedHub.create('portolan_operator_auth', { GATEWAY_OPERATOR_AUTH_FAILURE_BURST: '100000' });
    const started = await hub.gateway();
    gateway = started.process;
    admin = new ApiClient(started.url);
    anonymous = admin.as(null);
  }, 90_000);

  afterAll(async () => {
    await hub?.stop();
  }, 30_000);

  it('answers health and the API description to anyone, and every other route only with a token', async () => {
    expect((await anonymous.get('/health')).status).toBe(200);
    expect((await anonymous.get('/docs')).status).toBe(200);
    for (const path of ['/events', '/devices', '/agents', '/credentials', '/enrollment-tokens', '/operator-tokens', '/hub-certificates', '/alert-rules', '/alert-channels']) {
      expectRefused(await anonymous.get(path), 401, 'unauthorized', /needs an operator token: send "Authorization: Bearer <token>"/);
    }
    // Nothing is stored by a call that was refused.
    const tokensBefore = await count('enrollment_tokens');
    const sitesBefore = await count('sites');
    expectRefused(await anonymous.post('/enrollment-tokens', { name: 'sneaky', maxUses: 100 }), 401, 'unauthorized', /needs an operator token/);
    expectRefused(await anonymous.post('/sites', { name: 'sneaky' }), 401, 'unauthorized', /needs an operator token/);
    expect(await count('enrollment_tokens')).toBe(tokensBefore);
    expect(await count('sites')).toBe(sitesBefore);
    // The challenge says how to authenticate.
    const raw = await fetch(`${admin.baseUrl}/events`);
    expect(raw.status).toBe(401);
    expect(raw.headers.get('www-authenticate')).toBe('Bearer realm="portolan"');
  });

  it('guards every operation of the API description: 401 without a token, 403 for a viewer writing or reading what only admins may', async () => {
    const docs = (await anonymous.get<{ paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>> }>('/docs')).body;
    const viewer = admin.as((await make(admin, { name: 'every-route-viewer' })).token);
    const call = (client: ApiClient, method: string, path: string) =>
      method === 'get' ? client.get(path) : method === 'post' ? client.post(path, {}) : method === 'patch' ? client.patch(path, {}) : client.delete(path);
    const refused: string[] = [];
    let operations = 0;
    for (const [documented, methods] of Object.entries(docs.paths)) {
      const path = documented.replace(/^\/api/, '').replace(/\{id\}/g, randomUUID());
      for (const [method, operation] of Object.entries(methods)) {
        if (operation.security?.length === 0 || documented.startsWith('/api/agent/')) continue;
        operations += 1;
        const none = await call(anonymous, method, path);
        if (none.status !== 401) refused.push(`${method.toUpperCase()} ${documented} without a token: ${none.status}`);
        if (method !== 'get' || operation.responses['403']) {
          const read = await call(viewer, method, path);
          if (read.status !== 403) refused.push(`${method.toUpperCase()} ${documented} with a viewer token: ${read.status}`);
        }
      }
    }
    expect(operations).toBeGreaterThan(60);
    expect(refused).toEqual([]);
  }, 60_000);

  it('refuses an unknown token, a malformed header and an agent credential, each saying which', async () => {
    expectRefused(await admin.as(`ptop_${randomBytes(32).toString('base64url')}`).get('/events'), 401, 'unauthorized', /^unknown operator token$/);
    expectRefused(await admin.as(`${randomUUID()}.${randomBytes(32).toString('base64url')}`).get('/events'), 401, 'unauthorized', /agent's credentials are not accepted/);
    const basic = await fetch(`${admin.baseUrl}/events`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as ErrorBody).error.message).toMatch(/malformed Authorization header/);
  });

  it('makes tokens shown once, and lists them without the token', async () => {
    const viewer = await make(admin, { name: 'splunk-pull' });
    expect(viewer).toMatchObject({ name: 'splunk-pull', role: 'viewer', createdBy: 'admin (PORTOLAN_ADMIN_TOKEN)', revokedAt: null });
    expect(viewer.token).toMatch(/^ptop_[A-Za-z0-9_-]{43}$/);
    expect(viewer.tokenHint).toBe(viewer.token.slice(0, 9));
    const listed = await admin.get<{ items: Record<string, unknown>[] }>('/operator-tokens');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((t) => t['name'])).toEqual(expect.arrayContaining(['admin (PORTOLAN_ADMIN_TOKEN)', 'splunk-pull']));
    for (const item of listed.body.items) {
      expect(Object.keys(item)).not.toEqual(expect.arrayContaining(['token']));
      expect(Object.keys(item)).not.toEqual(expect.arrayContaining(['tokenHash']));
    }
    expect(JSON.stringify(listed.body)).not.toContain(viewer.token.slice(9));
    // Only the hash is stored.
    const { rows } = await hub.sql.query('SELECT token_hash FROM operator_tokens WHERE id = $1', [viewer.id]);
    expect(Buffer.from(rows[0].token_hash).toString('utf8')).not.toContain(viewer.token.slice(5));
    expect(rows[0].token_hash).toHaveLength(32);
    // Bad input names the field and stores nothing.
    const before = await count('operator_tokens');
    expectRefused(await admin.post('/operator-tokens', { name: 'x', role: 'root' }), 400, 'invalid_payload', /role/);
    expectRefused(await admin.post('/operator-tokens', { name: '' }), 400, 'invalid_payload', /name/);
    expect(await count('operator_tokens')).toBe(before);
  });

  it('lets a viewer read and nothing more', async () => {
    const viewer = await make(admin, { name: 'soc-dashboard', role: 'viewer' });
    const as = admin.as(viewer.token);
    const sitesBefore = await count('sites');
    expect((await as.get('/events')).status).toBe(200);
    expect((await as.get('/devices')).status).toBe(200);
    expect((await as.get('/operator-tokens/current')).body).toEqual({ id: viewer.id, name: 'soc-dashboard', role: 'viewer' });
    expectRefused(await as.post('/sites', { name: 'viewer-site' }), 403, 'forbidden', /"soc-dashboard" is a viewer: it may read \(GET\) but not POST \/api\/sites/);
    expectRefused(await as.post('/enrollment-tokens', { name: 'viewer-token' }), 403, 'forbidden', /is a viewer/);
    expectRefused(await as.get('/operator-tokens'), 403, 'forbidden', /GET \/api\/operator-tokens needs an admin token/);
    expect(await count('sites')).toBe(sitesBefore);
    // When it was last used is kept (at most once a minute, after the call).
    await waitFor('last_used_at of the viewer', async () => (await hub.sql.query('SELECT last_used_at FROM operator_tokens WHERE id = $1', [viewer.id])).rows[0].last_used_at, (at) => at !== null, 10_000);
  });

  it('stops a revoked token at once and never revokes the last admin token', async () => {
    const viewer = await make(admin, { name: 'to-revoke' });
    expect((await admin.as(viewer.token).get('/events')).status).toBe(200);
    const revoked = await admin.post<TokenView>(`/operator-tokens/${viewer.id}/revoke`, {});
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: viewer.id, revokedBy: 'admin (PORTOLAN_ADMIN_TOKEN)' });
    expectRefused(await admin.as(viewer.token).get('/events'), 401, 'unauthorized', /"to-revoke" .* was revoked at/);

    const self = (await admin.get<{ id: string }>('/operator-tokens/current')).body;
    expectRefused(await admin.post(`/operator-tokens/${self.id}/revoke`, {}), 409, 'conflict', /last admin token that works; make another admin token/);
    expect((await admin.get('/events')).status).toBe(200);
    expectRefused(await admin.post(`/operator-tokens/${randomUUID()}/revoke`, {}), 404, 'not_found', /does not exist/);

    const second = await make(admin, { name: 'alice', role: 'admin' });
    aliceToken = second.token;
    const alice = admin.as(second.token);
    expect((await alice.post(`/operator-tokens/${self.id}/revoke`, {})).status).toBe(200);
    expectRefused(await admin.get('/events'), 401, 'unauthorized', /"admin \(PORTOLAN_ADMIN_TOKEN\)" .* was revoked/);

    const audited = await hub.sql.query(`SELECT actor, action FROM audit_log WHERE subject_type = 'operator-token' ORDER BY at, action`);
    expect(audited.rows).toEqual(
      expect.arrayContaining([
        { actor: 'bootstrap', action: 'operator-token.created' },
        { actor: 'admin (PORTOLAN_ADMIN_TOKEN)', action: 'operator-token.revoked' },
        { actor: 'alice', action: 'operator-token.revoked' },
      ]),
    );

    // A gateway started later with the same PORTOLAN_ADMIN_TOKEN does not bring it back.
    const later = await hub.gateway('gateway-2');
    await later.process.waitForLog('PORTOLAN_ADMIN_TOKEN was revoked and is not accepted', 10_000);
    const there = new ApiClient(later.url);
    expectRefused(await there.get('/events'), 401, 'unauthorized', /was revoked/);
    expect((await there.as(second.token).get('/events')).status).toBe(200);
    admin = alice;
  }, 60_000);

  it('lets a token expire', async () => {
    const brief = await make(admin, { name: 'brief', expiresInDays: 2 / 86_400 });
    const as = admin.as(brief.token);
    expect((await as.get('/events')).status).toBe(200);
    await sleep(2_500);
    expectRefused(await as.get('/events'), 401, 'unauthorized', /"brief" .* expired at/);
  });

  it('stops a revoked token on every gateway at once, not when their caches run out', async () => {
    const other = await hub.gateway('gateway-b');
    const viewer = await make(admin, { name: 'on-two-gateways' });
    const here = admin.as(viewer.token);
    const there = new ApiClient(other.url, undefined, viewer.token);
    // Both gateways have it cached now (5 s).
    expect([(await here.get('/events')).status, (await there.get('/events')).status]).toEqual([200, 200]);
    const revokedAt = Date.now();
    expect((await admin.post(`/operator-tokens/${viewer.id}/revoke`, {})).status).toBe(200);
    const answer = await waitFor('the other gateway refusing the revoked token', () => there.get('/events'), (r) => r.status === 401, 1_500);
    expect(Date.now() - revokedAt).toBeLessThan(2_000);
    expectRefused(answer, 401, 'unauthorized', /was revoked/);
  }, 60_000);

  it("writes the token a call was made with into the audit log, beside the actor the call names", async () => {
    const channel = await admin.post<{ id: string }>('/alert-channels', { name: 'audit hook', type: 'webhook', settings: { url: 'http://127.0.0.1:9/hook' }, secrets: { signingSecret: 'a-signing-secret-of-32-characters!' } });
    expect(channel.status).toBe(201);
    const rule = await admin.post<{ id: string }>('/alert-rules', { name: 'audited rule', channelIds: [channel.body.id], createdBy: 'mallory' });
    expect(rule.status).toBe(201);
    expect((await admin.delete(`/alert-rules/${rule.body.id}`)).status).toBe(204);
    const { rows } = await hub.sql.query(`SELECT actor, action, caller_name FROM audit_log WHERE subject_id = $1 ORDER BY at`, [rule.body.id]);
    expect(rows).toEqual([
      { actor: 'mallory', action: 'alert-rule.created', caller_name: 'alice' },
      { actor: 'alice', action: 'alert-rule.deleted', caller_name: 'alice' },
    ]);
    // A planned change: its service writes the audit lines, given the caller by the controller.
    const group = await admin.post<{ id: string }>('/groups', { name: `audited group ${Date.now()}` });
    expect(group.status).toBe(201);
    const planned = await admin.post<{ id: string }>('/planned-changes', { name: 'audited change', start: new Date().toISOString(), scope: { groupIds: [group.body.id] }, rules: [{ keyPattern: 'tcp/443' }], createdBy: 'mallory' });
    expect(planned.status).toBe(201);
    expect((await admin.post(`/planned-changes/${planned.body.id}/approve`, { approvedBy: 'bob', reevaluateSince: false })).status).toBe(200);
    const changed = await hub.sql.query(`SELECT actor, action, caller_name FROM audit_log WHERE subject_id = $1 ORDER BY at`, [planned.body.id]);
    expect(changed.rows).toEqual([
      { actor: 'mallory', action: 'planned-change.created', caller_name: 'alice' },
      { actor: 'bob', action: 'planned-change.approved', caller_name: 'alice' },
    ]);
  });

  it('answers an address that keeps failing with 429s that cost no database read, and still serves its good tokens', async () => {
    const limited = await hub.gateway('gateway-limited', { GATEWAY_OPERATOR_AUTH_FAILURE_BURST: '5', GATEWAY_OPERATOR_AUTH_FAILURES_PER_SECOND: '0.5' });
    const there = new ApiClient(limited.url, undefined, null);
    const good = there.as(aliceToken);
    expect((await good.get('/events')).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await there.as(`ptop_${randomBytes(32).toString('base64url')}`).get('/events')).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const limitedAnswer = await fetch(`${limited.url}/events`);
    expect(limitedAnswer.status).toBe(429);
    expect(Number(limitedAnswer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await limitedAnswer.json()) as ErrorBody).error.message).toMatch(/too many failed operator authentications from 127\.0\.0\.1; retry in \d+ ms/);
    // A token it already knows good is still served from that address.
    expect((await good.get('/events')).status).toBe(200);
    expect(limited.process.log.match(/operator authentication failed/g)).toHaveLength(5);
  }, 60_000);

  it('makes a new admin token on a restart when none works any more, so whoever runs the hub is never locked out', async () => {
    // Every admin token gone (expired, revoked outside the API): the hub's own data directory is the way back in.
    await hub.sql.query(`UPDATE operator_tokens SET revoked_at = now(), revoked_by = 'test' WHERE revoked_at IS NULL`);
    const dataDir = mkdtempSync(join(tmpdir(), 'portolan-recovery-'));
    try {
      const restarted = await hub.gateway('gateway-recovery', { PORTOLAN_DATA_DIR: dataDir });
      await restarted.process.waitForLog('one was made and written to this file only', 10_000);
      expect(restarted.process.log).toContain('PORTOLAN_ADMIN_TOKEN was revoked and is not accepted');
      const file = join(dataDir, 'admin.token');
      expect(existsSync(file)).toBe(true);
      const token = readFileSync(file, 'utf8').trim();
      made.push(token);
      expect((await new ApiClient(restarted.url, undefined, token).get('/operator-tokens/current')).body).toMatchObject({ name: 'admin (recovery)', role: 'admin' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('writes no token to any log', () => {
    const logs = hub.processes.map((p) => p.log).join('\n');
    expect(logs).toContain('operator authentication failed');
    for (const token of [TEST_ADMIN_TOKEN, ...made]) expect(logs).not.toContain(token.slice(5));
    expect(gateway.log).not.toContain('Basic YWRtaW46YWRtaW4=');
  });
});

describe('the first admin token when gateways start together', () => {
  it('is made once: by one gateway, into its data directory, while the others find it there', async () => {
    const hub = await DistributedHub.create('portolan_operator_bootstrap', { PORTOLAN_ADMIN_TOKEN: '' });
    const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'portolan-bootstrap-')));
    try {
      const gateways = await Promise.all(dirs.map((dir, i) => hub.gateway(`gateway-${i}`, { PORTOLAN_DATA_DIR: dir })));
      const files = dirs.map((dir) => join(dir, 'admin.token')).filter((file) => existsSync(file));
      expect(files).toHaveLength(1);
      const { rows } = await hub.sql.query(`SELECT name, role, created_by FROM operator_tokens`);
      expect(rows).toEqual([{ name: 'admin (first start)', role: 'admin', created_by: 'bootstrap' }]);
      const token = readFileSync(files[0], 'utf8').trim();
      for (const gateway of gateways) expect((await new ApiClient(gateway.url, undefined, token).get('/operator-tokens/current')).status).toBe(200);
    } finally {
      await hub.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
