import { randomBytes, randomUUID } from 'node:crypto';
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
    hub = await DistributedHub.create('portolan_operator_auth');
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
    expect(listed.body.items.map((t) => t['name']).sort()).toEqual(['admin (PORTOLAN_ADMIN_TOKEN)', 'splunk-pull']);
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

  it('writes no token to any log', () => {
    const logs = hub.processes.map((p) => p.log).join('\n');
    expect(logs).toContain('operator authentication failed');
    for (const token of [TEST_ADMIN_TOKEN, ...made]) expect(logs).not.toContain(token.slice(5));
    expect(gateway.log).not.toContain('Basic YWRtaW46YWRtaW4=');
  });
});
