import { DataSource } from 'typeorm';
import { InProcessBus } from '@portolan/bus';
import { DomainError } from '@portolan/contracts';
import { createLogger } from '@portolan/logging';
import { createDataSource, createMigratedTestDatabase, insertTestAgent } from '@portolan/persistence';
import { AgentDirectory } from './agent.directory';
import { hashCredential, newAgentSecret } from './agent-credentials';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The agent directory on real Postgres, for a replica that missed the broadcast of a rotation
 * or a revocation: its cache is checked against the database (`revalidate`, once a minute in
 * service), and what changed is read again.
 */
describe('AgentDirectory (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;
  let bus: InProcessBus;
  let directory: AgentDirectory;
  let agentId: string;
  let secret: string;
  const bearer = (id: string, value: string) => `Bearer ${id}.${value}`;

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_agent_directory');
    dataSource = db.dataSource;
    secret = newAgentSecret();
    ({ agentId } = await insertTestAgent(dataSource, hashCredential(secret)));
    bus = new InProcessBus('directory-test', quiet);
    await bus.start();
    directory = new AgentDirectory(dataSource, bus, createLogger({ service: 'test', version: '0', level: 'silent' }));
    await directory.onModuleInit();
  }, 60_000);

  afterAll(async () => {
    await directory?.onModuleDestroy();
    await bus?.close();
    await db?.close();
  });

  const refused = (header: string) => directory.authenticate(header, '127.0.0.1').then(
    () => 'accepted',
    (error: unknown) => (error instanceof DomainError ? error.message : String(error)),
  );

  it('trusts a cached secret until a check finds it rotated, then only the new one', async () => {
    await expect(directory.authenticate(bearer(agentId, secret), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
    // Rotated in the database with no broadcast (this replica missed it).
    const rotated = newAgentSecret();
    await dataSource.query(`UPDATE agents SET secret_hash = $2, secret_rotated_at = now() WHERE id = $1`, [agentId, hashCredential(rotated)]);
    await expect(directory.authenticate(bearer(agentId, secret), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
    await directory.revalidate();
    expect(await refused(bearer(agentId, secret))).toMatch(/wrong secret/);
    await expect(directory.authenticate(bearer(agentId, rotated), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
    // A later check keeps what did not change since (the rotation is past both windows only after two).
    await directory.revalidate();
    await expect(directory.authenticate(bearer(agentId, rotated), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
    secret = rotated;
  });

  it('refuses a revoked agent once a check finds it', async () => {
    await dataSource.query(`UPDATE agents SET status = 'revoked', revoked_at = now() WHERE id = $1`, [agentId]);
    await expect(directory.authenticate(bearer(agentId, secret), '127.0.0.1')).resolves.toMatchObject({ id: agentId }); // cached
    await directory.revalidate();
    expect(await refused(bearer(agentId, secret))).toMatch(/revoked/);
    // Back online for the tests below (a fixture: the product never un-revokes), seen as a change by the next check.
    await dataSource.query(`UPDATE agents SET status = 'online', revoked_at = NULL, secret_rotated_at = now() WHERE id = $1`, [agentId]);
    await directory.revalidate();
  });

  it('trusts nothing cached once no check has succeeded for two periods (a check that hangs)', async () => {
    await expect(directory.authenticate(bearer(agentId, secret), '127.0.0.1')).resolves.toMatchObject({ id: agentId }); // cached
    const rotated = newAgentSecret();
    await dataSource.query(`UPDATE agents SET secret_hash = $2, secret_rotated_at = now() WHERE id = $1`, [agentId, hashCredential(rotated)]);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 3 * 60_000); // three minutes on, no check since
    try {
      expect(await refused(bearer(agentId, secret))).toMatch(/wrong secret/);
      await expect(directory.authenticate(bearer(agentId, rotated), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
    } finally {
      clock.mockRestore();
    }
    secret = rotated;
  });

  it('forgets every cached agent when a check cannot reach the database', async () => {
    const own = createDataSource({ url: db.url, dataDir: 'unused' });
    await own.initialize();
    const replica = new AgentDirectory(own, bus, createLogger({ service: 'test', version: '0', level: 'silent' }));
    await replica.onModuleInit();
    try {
      await expect(replica.authenticate(bearer(agentId, secret), '127.0.0.1')).resolves.toMatchObject({ id: agentId });
      await own.destroy(); // the database gone for this replica
      await replica.revalidate();
      // Nothing is trusted from the cache any more: the lookup has to ask the database, and fails.
      await expect(replica.authenticate(bearer(agentId, secret), '127.0.0.1')).rejects.not.toBeInstanceOf(DomainError);
    } finally {
      await replica.onModuleDestroy();
      if (own.isInitialized) await own.destroy();
    }
  });
});
