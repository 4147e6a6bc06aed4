import { MigrationInterface, QueryRunner } from 'typeorm';
import { ensureEventPartitions } from '../event-partitions';

/**
 * Monthly partitions of `events` from the oldest event held (or this month) to three months
 * ahead; the scheduler's leader keeps adding months ahead (`ensureEventPartitions`). Rows held
 * by the default partition move into their month.
 */
export class EventPartitions1764600000000 implements MigrationInterface {
  name = 'EventPartitions1764600000000';

  async up(q: QueryRunner): Promise<void> {
    const [{ oldest }] = await q.query(`SELECT min(occurred_at) AS oldest FROM events`);
    const now = new Date();
    await ensureEventPartitions(q, oldest ? new Date(oldest) : now, new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 3, 1)));
  }

  async down(q: QueryRunner): Promise<void> {
    const parts: { relname: string }[] = await q.query(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' AND c.relname <> 'events_default'`,
    );
    for (const { relname } of parts) {
      await q.query(`ALTER TABLE events DETACH PARTITION ${relname}`);
      await q.query(`INSERT INTO events SELECT * FROM ${relname}`);
      await q.query(`DROP TABLE ${relname}`);
    }
  }
}
