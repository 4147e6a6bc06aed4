import { DataSource, QueryFailedError } from 'typeorm';
import { createDataSource } from './data-source.factory';
import { queryPrepared } from './prepared.query';
import { createTestDatabase } from './testing/test-database';

/** Prepared statements on real Postgres (and plain queries on PGlite), through the data source or a transaction. */
describe('queryPrepared', () => {
  const cases: [string, () => Promise<{ source: DataSource; drop: () => Promise<void> }>][] = [
    [
      'Postgres',
      async () => {
        const db = await createTestDatabase('portolan_prepared');
        // One connection: what one statement leaves behind on it, the next finds.
        return { source: createDataSource({ url: db.url, dataDir: 'unused', poolSize: 1 }), drop: db.drop };
      },
    ],
    ['PGlite', async () => ({ source: createDataSource({ dataDir: 'memory://prepared' }), drop: async () => undefined })],
  ];

  describe.each(cases)('on %s', (backend, make) => {
    let source: DataSource;
    let drop: () => Promise<void>;
    const countRows = 'SELECT count(*)::int AS n FROM t WHERE id = ANY($1::int[])';

    beforeAll(async () => {
      ({ source, drop } = await make());
      await source.initialize();
      await source.query('CREATE TABLE t (id int PRIMARY KEY)');
    }, 60_000);

    afterAll(async () => {
      await source?.destroy();
      await drop?.();
    });

    it('answers the rows, run after run', async () => {
      await source.query('INSERT INTO t VALUES (1), (2), (3)');
      for (const [ids, n] of [[[1], 1], [[1, 2], 2], [[7], 0], [[1, 2, 3], 3], [[2, 3], 2], [[3], 1], [[1, 3], 2]] as const) {
        expect(await queryPrepared(source, countRows, [ids])).toEqual([{ n }]);
      }
      if (backend === 'Postgres') {
        // Parsed and planned once on the connection, then run by name.
        const [prepared] = await source.query(`SELECT generic_plans + custom_plans AS runs FROM pg_prepared_statements WHERE statement = $1`, [countRows]);
        expect(Number(prepared.runs)).toBe(7);
      }
    });

    it("runs on a transaction's own connection: it sees the transaction's rows, and its writes roll back with it", async () => {
      await expect(
        source.transaction(async (manager) => {
          await manager.query('INSERT INTO t VALUES (10)');
          expect(await queryPrepared(manager, countRows, [[10]])).toEqual([{ n: 1 }]);
          await queryPrepared(manager, 'INSERT INTO t SELECT unnest($1::int[])', [[11, 12]]);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await queryPrepared(source, countRows, [[10, 11, 12]])).toEqual([{ n: 0 }]);
    });

    if (backend === 'Postgres') {
      it('plans a statement without sequential scans the first time, and leaves the setting as it was, also after a failure', async () => {
        // A table known to be one small page (analysed): a sequential scan is the cheaper plan for it now, and would stay as it grew.
        await source.query(`CREATE TABLE small (id int PRIMARY KEY, note text); INSERT INTO small VALUES (1, 'a'), (2, 'b'); ANALYZE small`);
        const lookup = 'SELECT id, note FROM small WHERE id = ANY($1::int[]) ORDER BY id';
        await queryPrepared(source, lookup, [[1]]);
        const [{ name }] = await source.query(`SELECT name FROM pg_prepared_statements WHERE statement = $1`, [lookup]);
        const plan = (await source.query(`EXPLAIN EXECUTE ${name}(NULL)`)).map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
        expect(plan).not.toMatch(/Seq Scan/);
        expect(await source.query('SHOW enable_seqscan')).toEqual([{ enable_seqscan: 'on' }]);
        await expect(queryPrepared(source, 'INSERT INTO t VALUES ($1::int) RETURNING 1 / (id - id) AS boom', [40])).rejects.toThrow(/division by zero/);
        expect(await source.query('SHOW enable_seqscan')).toEqual([{ enable_seqscan: 'on' }]);
      });
    }

    it('fails as a query fails, with the SQLSTATE, and leaves the connection usable', async () => {
      const failure = await queryPrepared(source, 'INSERT INTO t SELECT unnest($1::int[])', [[20, 20]]).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(QueryFailedError);
      expect((failure as QueryFailedError & { driverError: { code: string } }).driverError.code).toBe('23505');
      expect(await queryPrepared(source, countRows, [[20]])).toEqual([{ n: 0 }]);
    });
  });
});
