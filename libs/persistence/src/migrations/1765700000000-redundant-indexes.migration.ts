import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two indexes that repeat another, each maintained on every insert for nothing:
 * `events_time_idx (occurred_at DESC, id DESC)` repeats the primary key `(occurred_at, id)`,
 * which Postgres scans backwards for newest-first pages (it chose the key over this index
 * already: EXPLAIN of the latest page, a day's unplanned changes and a cursor's next page on
 * 600,000 events, before and after); `scan_chunks_job_idx (job_id, chunk_index)` repeats the
 * unique constraint on the same columns. An agent upload writes a chunk and an event: two
 * index entries fewer each, and one fewer again when the event is marked announced.
 */
export class RedundantIndexes1765700000000 implements MigrationInterface {
  name = 'RedundantIndexes1765700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_time_idx`);
    await q.query(`DROP INDEX scan_chunks_job_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX scan_chunks_job_idx ON scan_chunks (job_id, chunk_index)`);
    await q.query(`CREATE INDEX events_time_idx ON events (occurred_at DESC, id DESC)`);
  }
}
