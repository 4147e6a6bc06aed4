import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { newEd25519KeyPair } from '@portolan/collectors/testing';
import { createTestDatabase } from '@portolan/persistence';
import { masterKey } from '@portolan/vault';
import { ApiClient } from './api.client';
import { freePort, ServiceProcess } from './service.process';

type View = { id: string; type: string; username: string | null; domain: string | null; secrets: Record<string, boolean>; keyId: string | null; insecure: boolean };
type ErrorBody = { error: { code: string; message: string } };

/**
 * The credential vault through a real gateway process on Postgres: every type, secrets sealed at
 * rest and never answered or logged, validation naming the field, and a master key rotation.
 */
describe('credentials (gateway, Postgres)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-credentials-'));
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const enableSecret = `en-${randomBytes(9).toString('base64url')}`;
  const passphrase = `pp-${randomBytes(9).toString('base64url')}`;
  const key = newEd25519KeyPair({ passphrase, cipher: 'aes256-ctr', rounds: 16 });
  const secretsInPlay = [password, enableSecret, passphrase, keyA.toString('base64'), keyB.toString('base64')];
  let gateway: ServiceProcess;
  let api: ApiClient;
  let sql: Client;
  let env: Record<string, string>;
  let drop: () => Promise<void> = async () => undefined;
  const logs: string[] = [];

  const start = async (keys: Buffer[]) => {
    gateway = new ServiceProcess('gateway', 'gateway', { ...env, PORTOLAN_MASTER_KEYS: keys.map((k) => k.toString('base64')).join(',') });
    await api.waitForHealth();
  };
  const stop = async () => {
    logs.push(gateway.log);
    await gateway.stop();
  };

  beforeAll(async () => {
    const db = await createTestDatabase('portolan_credentials');
    drop = db.drop;
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const port = await freePort();
    env = { DATABASE_URL: db.url, NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222', PORTOLAN_DATA_DIR: dataDir, GATEWAY_PLAIN_HTTP: 'true', GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port), LOG_LEVEL: 'debug' };
    api = new ApiClient(`http://127.0.0.1:${port}/api`);
    await start([keyA]);
  }, 90_000);

  afterAll(async () => {
    await gateway?.stop();
    await sql?.end();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('stores each type with its secrets sealed, and answers which secrets it holds, never what they are', async () => {
    const bodies = [
      { type: 'no-connection-required', name: 'ranges', username: 'dummy', password: 'dummy' },
      { type: 'ssh-password', name: 'linux', username: 'ops', password },
      { type: 'ssh-key', name: 'linux-key', username: 'ops', privateKey: key.private, passphrase },
      { type: 'telnet', name: 'legacy', username: 'admin', password, enableSecret },
      { type: 'smb', name: 'windows', domain: 'CORP', username: 'svc-portolan', password },
    ];
    const views: View[] = [];
    for (const body of bodies) {
      const created = await api.post<View>('/credentials', body);
      expect(created.status).toBe(201);
      views.push(created.body);
    }
    expect(views.map((v) => [v.type, v.username, v.domain, Object.entries(v.secrets).filter(([, has]) => has).map(([name]) => name)])).toEqual([
      ['no-connection-required', null, null, []],
      ['ssh-password', 'ops', null, ['password']],
      ['ssh-key', 'ops', null, ['privateKey', 'passphrase']],
      ['telnet', 'admin', null, ['password', 'enableSecret']],
      ['smb', 'svc-portolan', 'CORP', ['password']],
    ]);
    expect(views.map((v) => v.keyId)).toEqual([null, ...Array(4).fill(masterKey(keyA).id)]);
    expect(views.find((v) => v.type === 'telnet')?.insecure).toBe(true);

    const everything = JSON.stringify([views, (await api.get('/credentials')).body, (await api.get(`/credentials/${views[2].id}`)).body]);
    for (const secret of [password, enableSecret, passphrase, 'PRIVATE KEY']) expect(everything).not.toContain(secret);
    const { rows } = await sql.query(`SELECT secret_ciphertext FROM credentials WHERE secret_ciphertext IS NOT NULL`);
    expect(rows).toHaveLength(4);
    for (const row of rows as { secret_ciphertext: Buffer }[]) for (const secret of [password, enableSecret, passphrase, 'PRIVATE KEY']) expect(row.secret_ciphertext.includes(secret)).toBe(false);
  });

  it('refuses bad input naming the field, and stores nothing', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM credentials')).rows[0].n;
    const refused = async (body: unknown, status: number, message: RegExp) => {
      const response = await api.post<ErrorBody>('/credentials', body);
      expect({ status: response.status, message: response.body.error.message }).toEqual({ status, message: expect.stringMatching(message) });
      expect(response.body.error.message).not.toContain(password);
    };
    await refused({ type: 'ssh-password', name: 'no password', username: 'ops' }, 400, /password/);
    await refused({ type: 'kerberos', name: 'k', username: 'ops', password }, 400, /type must be one of no-connection-required, ssh-password, ssh-key, telnet, smb/);
    await refused({ type: 'ssh-key', name: 'bad key', username: 'ops', privateKey: 'not a key' }, 400, /privateKey is not a usable SSH private key: Unsupported key format/);
    await refused({ type: 'ssh-key', name: 'wrong passphrase', username: 'ops', privateKey: key.private, passphrase: 'nope' }, 400, /privateKey is not a usable SSH private key: .*passphrase/);
    await refused({ type: 'ssh-password', name: 'extra', username: 'ops', password, domain: 'CORP' }, 400, /domain|Unrecognized/);
    await refused({ type: 'ssh-password', name: 'linux', username: 'ops', password }, 409, /a credential named "linux" already exists/);
    expect((await sql.query('SELECT count(*)::int AS n FROM credentials')).rows[0].n).toBe(before);
  });

  it('changes a credential (write-only secrets, the fields of its type only) and deletes one no device uses', async () => {
    const { body: list } = await api.get<{ items: View[] }>('/credentials');
    const telnet = list.items.find((v) => v.type === 'telnet')!;
    const changed = await api.patch<View>(`/credentials/${telnet.id}`, { username: 'admin2', enableSecret: `${enableSecret}-2` });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ username: 'admin2', secrets: { password: true, enableSecret: true } });
    const wrong = await api.patch<ErrorBody>(`/credentials/${telnet.id}`, { privateKey: key.private });
    expect({ status: wrong.status, message: wrong.body.error.message }).toEqual({ status: 400, message: 'a telnet credential has no privateKey' });

    const ranges = list.items.find((v) => v.type === 'no-connection-required')!;
    const device = await api.post('/devices', { name: 'range', kind: 'network', address: '127.0.0.80-81', credentialId: ranges.id });
    expect(device.status).toBe(201);
    expect((await api.delete<ErrorBody>(`/credentials/${ranges.id}`)).body.error.message).toMatch(/is used by 1 device/);
    const unused = list.items.find((v) => v.type === 'smb')!;
    expect((await api.delete(`/credentials/${unused.id}`)).status).toBe(204);
    expect((await api.get(`/credentials/${unused.id}`)).status).toBe(404);
  });

  it('rotates the master key: with the new key first, every credential is resealed, and the old key can go', async () => {
    await stop();
    await start([keyB, keyA]);
    const resealed = await api.post<{ total: number; resealed: number; activeKeyId: string }>('/credentials/reseal', {});
    expect(resealed.body).toEqual({ total: 3, resealed: 3, activeKeyId: masterKey(keyB).id });
    expect((await api.post<{ resealed: number }>('/credentials/reseal', {})).body.resealed).toBe(0);
    await stop();
    await start([keyB]);
    const { body } = await api.get<{ items: View[] }>('/credentials');
    expect(body.items.filter((v) => v.keyId).map((v) => v.keyId)).toEqual(Array(3).fill(masterKey(keyB).id));
    expect(body.items.find((v) => v.type === 'ssh-key')?.secrets).toMatchObject({ privateKey: true, passphrase: true });
  }, 90_000);

  it('never writes a secret or a master key to its log', async () => {
    const all = [...logs, gateway.log].join('\n');
    expect(all).toContain('credential created');
    for (const secret of secretsInPlay) expect(all).not.toContain(secret);
  });
});
