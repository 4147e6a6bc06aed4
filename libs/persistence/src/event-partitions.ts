import { EntityManager, QueryRunner } from 'typeorm';

type Queryable = Pick<EntityManager, 'query'> | Pick<QueryRunner, 'query'>;

/** `events_y2026m12` for December 2026: one partition per calendar month (UTC). */
export function monthPartition(month: Date): { name: string; from: Date; to: Date } {
  const from = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1));
  const to = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
  return { name: `events_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, '0')}`, from, to };
}

/**
 * Makes sure `events` has a monthly partition for every month from `from` to `to` (UTC). Rows
 * the default partition already holds for a new month move into it, in the caller's
 * transaction: the default partition is detached, the month created, its rows moved, the
 * default attached again. Returns the partitions created.
 */
export async function ensureEventPartitions(db: Queryable, from: Date, to: Date): Promise<string[]> {
  const existing = new Set(
    ((await db.query(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'`)) as { relname: string }[]).map((r) => r.relname),
  );
  const created: string[] = [];
  for (let month = monthPartition(from).from; month <= to && created.length < 240; month = monthPartition(month).to) {
    const { name, from: start, to: end } = monthPartition(month);
    if (existing.has(name)) continue;
    const [{ n }] = await db.query(`SELECT count(*)::int AS n FROM events_default WHERE occurred_at >= $1 AND occurred_at < $2`, [start, end]);
    const range = `FOR VALUES FROM ('${start.toISOString()}') TO ('${end.toISOString()}')`;
    if (n === 0) {
      await db.query(`CREATE TABLE ${name} PARTITION OF events ${range}`);
    } else {
      await db.query(`ALTER TABLE events DETACH PARTITION events_default`);
      await db.query(`CREATE TABLE ${name} PARTITION OF events ${range}`);
      await db.query(`INSERT INTO events SELECT * FROM events_default WHERE occurred_at >= $1 AND occurred_at < $2`, [start, end]);
      await db.query(`DELETE FROM events_default WHERE occurred_at >= $1 AND occurred_at < $2`, [start, end]);
      await db.query(`ALTER TABLE events ATTACH PARTITION events_default DEFAULT`);
    }
    created.push(name);
  }
  return created;
}
