import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createDataSource, migrate, MIGRATIONS } from './data-source.factory';
import { ensureEventPartitions, monthPartition } from './event-partitions';
import { createTestDatabase } from './testing/test-database';

async function exercise(dataSource: DataSource): Promise<void> {
  await dataSource.initialize();
  // Every registered migration runs, oldest first (names end in their timestamp).
  const names = MIGRATIONS.map((m) => m.name);
  expect(names[0]).toBe('InitialSchema1763800000000');
  expect([...names].sort((a, b) => Number(a.match(/\d+$/)![0]) - Number(b.match(/\d+$/)![0]))).toEqual(names);
  expect(await migrate(dataSource)).toEqual(names);
  expect(await migrate(dataSource)).toEqual([]);
  const [site] = await dataSource.query(`INSERT INTO sites (name) VALUES ('hq') RETURNING id`);
  await expect(dataSource.query(`INSERT INTO sites (name) VALUES ('hq')`)).rejects.toThrow(/duplicate key/);
  const [count] = await dataSource.query(`SELECT count(*) AS n FROM sites`);
  expect(count.n).toBe('1');
  await dataSource.query(
    `INSERT INTO devices (name, kind, address, normalized_address, host_count, site_id) VALUES ('d','network','127.0.0.1','127.0.0.1',1,$1)`,
    [site.id],
  );
  // Events land in their month's partition; one far outside every month lands in the default
  // partition, and moves into its month when that month is created.
  await dataSource.query(`INSERT INTO events (id, occurred_at, kind, device_id) VALUES (gen_random_uuid(), now(), 'added', gen_random_uuid())`);
  const [partition] = await dataSource.query(`SELECT tableoid::regclass::text AS p FROM events`);
  expect(partition.p).toBe(monthPartition(new Date()).name);
  await dataSource.query(`INSERT INTO events (id, occurred_at, kind, device_id) VALUES (gen_random_uuid(), '2031-05-17T12:00:00Z', 'removed', gen_random_uuid())`);
  const where = async () => (await dataSource.query(`SELECT tableoid::regclass::text AS p FROM events WHERE kind = 'removed'`))[0].p;
  expect(await where()).toBe('events_default');
  expect(await dataSource.transaction((m) => ensureEventPartitions(m, new Date('2031-05-01T00:00:00Z'), new Date('2031-06-30T00:00:00Z')))).toEqual(['events_y2031m05', 'events_y2031m06']);
  expect(await where()).toBe('events_y2031m05');
  expect(await dataSource.transaction((m) => ensureEventPartitions(m, new Date('2031-05-01T00:00:00Z'), new Date('2031-06-30T00:00:00Z')))).toEqual([]);
  const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM events`);
  expect(n).toBe(2);
  await isolation(dataSource);
  for (let i = 0; i < MIGRATIONS.length; i++) await dataSource.undoLastMigration();
  const tables = await dataSource.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'devices'`);
  expect(tables).toEqual([]);
}

/** Concurrent transactions are isolated: row locks wait and a rollback undoes only its own work. */
async function isolation(dataSource: DataSource): Promise<void> {
  await dataSource.query(`CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)`);
  await dataSource.query(`INSERT INTO counter VALUES (1, 0)`);
  await Promise.all(
    Array.from({ length: 4 }, () =>
      dataSource.transaction(async (m) => {
        const [row] = await m.query(`SELECT n FROM counter WHERE id = 1 FOR UPDATE`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await m.query(`UPDATE counter SET n = $1 WHERE id = 1`, [row.n + 1]);
      }),
    ),
  );
  const failing = dataSource.transaction(async (m) => {
    await m.query(`INSERT INTO counter VALUES (2, 0)`);
    await new Promise((resolve) => setTimeout(resolve, 30));
    throw new Error('roll back');
  });
  const committing = dataSource.transaction((m) => m.query(`INSERT INTO counter VALUES (3, 0)`));
  await expect(failing).rejects.toThrow('roll back');
  await committing;
  expect(await dataSource.query(`SELECT id, n FROM counter ORDER BY id`)).toEqual([
    { id: 1, n: 4 },
    { id: 3, n: 0 },
  ]);
  await dataSource.query(`DROP TABLE counter`);
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
