import pino from 'pino';
import { DataSource } from 'typeorm';
import { createMigratedTestDatabase, insertTestAgent } from '@portolan/persistence';
import type { CertificateFacts } from '../http/tls.loader';
import { HubCertificatesService, PIN_STALE_AFTER_MS } from './hub-certificates.service';

const facts = (byte: string): CertificateFacts => ({ fingerprint: Array.from({ length: 32 }, () => byte).join(':'), subject: `CN=hub-${byte}`, notAfter: new Date('2029-01-01T00:00:00Z') });

/**
 * The hub's certificate registry on Postgres: what gateways register is what pinning agents are
 * told to trust, and every change to that set makes each agent fetch its configuration again.
 */
describe('hub certificates (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;
  let service: HubCertificatesService;
  const lines: { level: number; msg: string; fingerprint?: string }[] = [];
  let agentId: string;

  const configVersion = async () => ((await dataSource.query('SELECT config_version FROM agents WHERE id = $1', [agentId])) as { config_version: number }[])[0].config_version;

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_hub_certs');
    dataSource = db.dataSource;
    service = new HubCertificatesService(dataSource, pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }));
    ({ agentId } = await insertTestAgent(dataSource));
  }, 60_000);

  afterAll(async () => {
    service?.onModuleDestroy();
    await db?.close();
  });

  it('announces what gateways serve and stage, and has agents fetch their configuration again only when that changes', async () => {
    const before = await configVersion();
    await service.register('gateway-a', facts('AA'), facts('A1'));
    expect((await service.pins()).sort()).toEqual([facts('A1').fingerprint, facts('AA').fingerprint]);
    expect(await configVersion()).toBe(before + 1);

    // The same gateway again (a restart, the hourly refresh): nothing new, no configuration fetch.
    await service.register('gateway-a', facts('AA'), facts('A1'));
    expect(await configVersion()).toBe(before + 1);

    // A second replica with its own certificate.
    await service.register('gateway-b', facts('BB'));
    expect(await service.pins()).toHaveLength(3);
    expect(await configVersion()).toBe(before + 2);

    const listed = await service.list();
    expect(listed.find((c) => c.fingerprint === facts('A1').fingerprint)).toMatchObject({ served: false, instance: 'gateway-a', subject: 'CN=hub-A1', announced: true, retiredAt: null });
    expect(listed.find((c) => c.fingerprint === facts('BB').fingerprint)).toMatchObject({ served: true, instance: 'gateway-b' });
  });

  it('stops announcing a retired certificate, audits it, and refuses to retire it twice', async () => {
    const [staged] = (await service.list()).filter((c) => c.fingerprint === facts('A1').fingerprint);
    expect(staged.inUse).toBe(false); // only staged: retired without force
    const before = await configVersion();
    const retired = await service.retire(staged.id, 'alice');
    expect(retired).toMatchObject({ retiredBy: 'alice', announced: false });
    expect(await service.pins()).not.toContain(facts('A1').fingerprint);
    expect(await configVersion()).toBe(before + 1);
    const audit: { actor: string; action: string; details: { fingerprint: string } }[] = await dataSource.query(`SELECT actor, action, details FROM audit_log WHERE subject_type = 'hub-certificate' AND subject_id = $1`, [staged.id]);
    expect(audit).toEqual([{ actor: 'alice', action: 'hub-certificate.retired', details: { fingerprint: facts('A1').fingerprint, force: false } }]);
    await expect(service.retire(staged.id, 'alice')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('already retired') });

    // Still staged by its gateway: it stays retired, with a warning, and agents are not asked to fetch anything.
    await service.register('gateway-a', facts('AA'), facts('A1'));
    expect(await service.pins()).not.toContain(facts('A1').fingerprint);
    expect(await configVersion()).toBe(before + 1);
    expect(lines.some((l) => l.level === 40 && l.msg.includes('staged next certificate is retired'))).toBe(true);
  });

  it('retires a certificate served lately only when forced, and trusts it again when a gateway still serves it', async () => {
    const [served] = (await service.list()).filter((c) => c.fingerprint === facts('BB').fingerprint);
    expect(served.inUse).toBe(true);
    await expect(service.retire(served.id, 'bob')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('was served by gateway gateway-b within the last 2 hours') });
    expect(await service.pins()).toContain(facts('BB').fingerprint);
    await service.retire(served.id, 'bob', true);
    expect(await service.pins()).not.toContain(facts('BB').fingerprint);
    const before = await configVersion();
    await service.register('gateway-b', facts('BB'));
    expect(await service.pins()).toContain(facts('BB').fingerprint);
    expect(await configVersion()).toBe(before + 1);
    expect(lines.some((l) => l.level === 40 && l.msg.includes('serves a certificate that was retired'))).toBe(true);
  });

  it('a rotation: the staged certificate becomes the served one without changing what agents are told', async () => {
    await service.register('gateway-c', facts('C0'), facts('CC'));
    const before = await configVersion();
    await service.register('gateway-c', facts('CC'));
    expect(await configVersion()).toBe(before);
    expect((await service.list()).find((c) => c.fingerprint === facts('CC').fingerprint)).toMatchObject({ served: true, inUse: true, announced: true });
  });

  it('stops announcing a certificate no gateway has registered for a week, telling agents, and announces it again when one does', async () => {
    await dataSource.query(`UPDATE hub_certificates SET last_seen_at = now() - make_interval(secs => $2 / 1000.0 + 60) WHERE fingerprint = $1`, [facts('BB').fingerprint, PIN_STALE_AFTER_MS]);
    const before = await configVersion();
    // Any gateway's next registration (at start or hourly) finds it stale.
    await service.register('gateway-a', facts('AA'), facts('A1'));
    expect(await service.pins()).not.toContain(facts('BB').fingerprint);
    expect(await configVersion()).toBe(before + 1);
    await service.register('gateway-b', facts('BB'));
    expect(await service.pins()).toContain(facts('BB').fingerprint);
    expect(await configVersion()).toBe(before + 2);
  });

  it('registers a new certificate once when gateways start with it at the same moment, and tells agents once', async () => {
    const before = await configVersion();
    const pinsBefore = (await service.pins()).length;
    // Six transactions at once on the pool's connections, as six replicas starting together.
    await Promise.all(Array.from({ length: 6 }, (_, i) => service.register(`gateway-${i}`, facts('DD'))));
    const rows: { n: number }[] = await dataSource.query('SELECT count(*)::int AS n FROM hub_certificates WHERE fingerprint = $1', [facts('DD').fingerprint]);
    expect(rows[0].n).toBe(1);
    expect(await service.pins()).toHaveLength(pinsBefore + 1);
    expect(await configVersion()).toBe(before + 1);
    expect(lines.filter((l) => l.fingerprint === facts('DD').fingerprint && l.msg.includes('registered'))).toHaveLength(1);
  });

  it('answers 404 for a certificate it does not know', async () => {
    await expect(service.retire('00000000-0000-4000-8000-000000000000', 'alice')).rejects.toMatchObject({ code: 'not_found' });
  });
});
