import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createMigratedTestDatabase, insertTestAgent } from '@portolan/persistence';
import { markSent, sentMarksStatement } from './sent.marks';

/** A node of a plan as `EXPLAIN (ANALYZE, FORMAT JSON)` gives it. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

/** Sent marks on real Postgres: each event found by its own key, whatever the table holds. */
describe('markSent (Postgres)', () => {
  let db: Awaited<ReturnType<typeof createMigratedTestDatabase>>;
  let dataSource: DataSource;
  /** 20,000 events of the last 20 s (times with microseconds, as now() gives them), and one of 3 h ago. */
  const RECENT = 20_000;
  let oldEvent: { id: string; occurredAt: Date };

  beforeAll(async () => {
    db = await createMigratedTestDatabase('portolan_sent_marks');
    dataSource = db.dataSource;
    const { deviceId } = await insertTestAgent(dataSource);
    await dataSource.query(
      `INSERT INTO events (id, occurred_at, kind, device_id, details)
       SELECT gen_random_uuid(), now() - i * interval '1 millisecond' - interval '0.000123 seconds', 'communications', $1, '{"what":"scan-started"}'
         FROM generate_series(1, ${RECENT}) i`,
      [deviceId],
    );
    const [old]: { id: string; occurred_at: Date }[] = await dataSource.query(
      `INSERT INTO events (id, occurred_at, kind, device_id, details) VALUES ($1, now() - interval '3 hours', 'communications', $2, '{"what":"scan-started"}') RETURNING id, occurred_at`,
      [randomUUID(), deviceId],
    );
    oldEvent = { id: old.id, occurredAt: old.occurred_at };
    // No ANALYZE: a month's partition early on, or a database whose autovacuum is off, has no statistics.
  }, 60_000);

  afterAll(async () => {
    await db?.close();
  });

  /** Recent events as the leader's sweep reads them back: JavaScript times, without their microseconds. */
  const recent = async (count: number, offset: number): Promise<{ id: string; occurredAt: Date }[]> =>
    (await dataSource.query(`SELECT id, occurred_at FROM events WHERE occurred_at > now() - interval '1 hour' ORDER BY occurred_at DESC OFFSET $1 LIMIT $2`, [offset, count])).map(
      (r: { id: string; occurred_at: Date }) => ({ id: r.id, occurredAt: r.occurred_at }),
    );

  it('marks each event by its key, from a time that lost its microseconds too, however old; skips one another transaction holds, and leaves the others alone', async () => {
    const batch = [oldEvent, ...(await recent(50, 0))];
    const [held, untouched] = await recent(2, 100);
    const holder = dataSource.createQueryRunner();
    await holder.connect();
    try {
      await holder.startTransaction();
      expect(await holder.query(`SELECT id FROM events WHERE id = $1 FOR UPDATE`, [held.id])).toHaveLength(1);
      const left = await markSent(dataSource, { events: [...batch, held] });
      expect(left).toEqual({ events: [held], uploadIds: [] });
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
    const announced: { id: string }[] = await dataSource.query(`SELECT id FROM events WHERE announced_at IS NOT NULL`);
    expect(announced.map((r) => r.id).sort()).toEqual(batch.map((e) => e.id).sort());
    expect(announced.map((r) => r.id)).not.toContain(untouched.id);

    // The one skipped is marked by the next write, once free.
    expect(await markSent(dataSource, { events: [held] })).toEqual({ events: [], uploadIds: [] });
  });

  it('reads only the rows of the events it marks, not every event since the oldest of them (its plan, on a partition never analysed)', async () => {
    const batch = [oldEvent, ...(await recent(200, 1_000))];
    const { sql, params } = sentMarksStatement(batch, []);
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [{ 'QUERY PLAN': [plan] }]: { 'QUERY PLAN': { Plan: PlanNode }[] }[] = await runner.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      // Rows each scan of an event partition read (those it returned and those it passed over), over all its loops.
      const scans = nodes(plan.Plan).filter((n) => n['Relation Name']?.startsWith('events'));
      expect(scans.length).toBeGreaterThan(0);
      const read = scans.reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) * n['Actual Loops'], 0);
      expect(read).toBeGreaterThanOrEqual(batch.length);
      expect(read).toBeLessThan(batch.length * 4); // a few reads of each (to lock it, to update it); not the 20,000 events since the oldest
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  });
});
