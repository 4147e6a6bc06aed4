import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nothing is lost between a commit and a publish: a chunk keeps its scan request and when it
 * was published, an event when it was announced; the scheduler re-publishes what is missing.
 * Creation times are kept to the millisecond so list cursors (which carry milliseconds) are exact.
 */
export class DispatchOutbox1764000000000 implements MigrationInterface {
  name = 'DispatchOutbox1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN request jsonb`);
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN published_at timestamptz`);
    await q.query(`CREATE INDEX scan_chunks_unpublished_idx ON scan_chunks (queued_at) WHERE published_at IS NULL AND status = 'queued'`);
    await q.query(`ALTER TABLE events ADD COLUMN announced_at timestamptz`);
    await q.query(`CREATE INDEX events_unannounced_idx ON events (occurred_at) WHERE announced_at IS NULL`);
    for (const table of ['sites', 'credentials', 'devices', 'trackers']) {
      await q.query(`ALTER TABLE ${table} ALTER COLUMN created_at SET DEFAULT date_trunc('milliseconds', now())`);
      await q.query(`UPDATE ${table} SET created_at = date_trunc('milliseconds', created_at)`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['sites', 'credentials', 'devices', 'trackers']) await q.query(`ALTER TABLE ${table} ALTER COLUMN created_at SET DEFAULT now()`);
    await q.query(`DROP INDEX events_unannounced_idx`);
    await q.query(`ALTER TABLE events DROP COLUMN announced_at`);
    await q.query(`DROP INDEX scan_chunks_unpublished_idx`);
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN published_at`);
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN request`);
  }
}
