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
  'Index Cond'?: string;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}

const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
/** The scans of event partitions in a plan (an index scan's pages are its own, a bitmap heap scan's include its index's). */
const eventScans = (plan: PlanNode): PlanNode[] => nodes(plan).filter((n) => n['Relation Name']?.startsWith('events'));

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

  /** The plan of a mark's statement, run and rolled back. */
  const explain = async (events: { id: string; occurredAt: Date }[]): Promise<PlanNode> => {
    const { sql, params } = sentMarksStatement(events, []);
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      const [{ 'QUERY PLAN': [plan] }]: { 'QUERY PLAN': { Plan: PlanNode }[] }[] = await runner.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
      return plan.Plan;
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  };

  it('reads only the rows of the events it marks, not every event since the oldest of them (its plan, on a partition never analysed)', async () => {
    const batch = [oldEvent, ...(await recent(200, 1_000))];
    const scans = eventScans(await explain(batch));
    expect(scans.length).toBeGreaterThan(0);
    // Rows each scan read (those it returned and those it passed over), over all its loops.
    const read = scans.reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) * n['Actual Loops'], 0);
    expect(read).toBeGreaterThanOrEqual(batch.length);
    expect(read).toBeLessThan(batch.length * 4); // a few reads of each (to lock it, to update it); not the 20,000 events since the oldest
  });

  it('finds each event at once among thousands that share its time (a comparison, agents marked offline together), not by walking those before it', async () => {
    const [{ device_id: deviceId }]: { device_id: string }[] = await dataSource.query(`SELECT device_id FROM events LIMIT 1`);
    const at = new Date(Date.now() - 3_600_000);
    await dataSource.query(
      `INSERT INTO events (id, occurred_at, kind, device_id, details)
       SELECT gen_random_uuid(), $1, 'communications', $2, '{"what":"agent-offline"}' FROM generate_series(1, 5000)`,
      [at, deviceId],
    );
    // The last of them in key order: each would be reached after walking nearly all 5,000 from the time on.
    const batch: { id: string; occurredAt: Date }[] = (await dataSource.query(`SELECT id, occurred_at FROM events WHERE occurred_at = $1 ORDER BY id DESC LIMIT 500`, [at])).map(
      (r: { id: string; occurred_at: Date }) => ({ id: r.id, occurredAt: r.occurred_at }),
    );
    // The lookups' index scans: the scans whose condition takes each key's id (EXPLAIN counts an
    // init plan's pages in the node that first runs it, so the UPDATE's scans are not summed).
    const lookups = eventScans(await explain(batch)).filter((n) => n['Index Cond']?.includes('k.id'));
    expect(lookups.length).toBeGreaterThan(0);
    const pages = lookups.reduce((sum, n) => sum + n['Shared Hit Blocks'] + n['Shared Read Blocks'], 0);
    expect(pages).toBeLessThan(batch.length * 8); // a descent of the index each (and a heap page); walking the time's 5,000 keys from their start is 25-odd pages each
    expect(await markSent(dataSource, { events: batch })).toEqual({ events: [], uploadIds: [] });
  });
});
