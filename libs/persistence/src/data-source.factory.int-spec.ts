import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createDataSource, migrate } from './data-source.factory';
import { createTestDatabase } from './testing/test-database';

async function exercise(dataSource: DataSource): Promise<void> {
  await dataSource.initialize();
  expect(await migrate(dataSource)).toEqual(['InitialSchema1763800000000', 'ChunkResultParts1763900000000']);
  expect(await migrate(dataSource)).toEqual([]);
  const [site] = await dataSource.query(`INSERT INTO sites (name) VALUES ('hq') RETURNING id`);
  await expect(dataSource.query(`INSERT INTO sites (name) VALUES ('hq')`)).rejects.toThrow(/duplicate key/);
  const [count] = await dataSource.query(`SELECT count(*) AS n FROM sites`);
  expect(count.n).toBe('1');
  await dataSource.query(
    `INSERT INTO devices (name, kind, address, normalized_address, host_count, site_id) VALUES ('d','network','127.0.0.1','127.0.0.1',1,$1)`,
    [site.id],
  );
  await dataSource.query(`INSERT INTO events (id, occurred_at, kind, device_id) VALUES (gen_random_uuid(), now(), 'added', gen_random_uuid())`);
  const [partition] = await dataSource.query(`SELECT tableoid::regclass::text AS p FROM events`);
  expect(partition.p).toBe('events_default');
  await dataSource.undoLastMigration();
  await dataSource.undoLastMigration();
  const tables = await dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'devices'`);
  expect(tables).toEqual([]);
}

describe('createDataSource + migrate', () => {
  it('runs the same migrations up and down on real Postgres', async () => {
    const db = await createTestDatabase();
    const dataSource = createDataSource({ url: db.url, dataDir: 'unused' });
    try {
      await exercise(dataSource);
    } finally {
      await dataSource.destroy();
      await db.drop();
    }
  });

  it('runs the same migrations up and down on embedded PGlite in a data directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-pglite-'));
    const dataSource = createDataSource({ dataDir: join(dir, 'db') });
    try {
      await exercise(dataSource);
    } finally {
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
