import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether the scheduler failed a chunk for want of its result by its deadline: a result that
 * comes after all reopens such a chunk (and its job). Kept apart from the error's text, which a
 * worker's own failure may word any way.
 */
export class ChunkTimedOut1766900000000 implements MigrationInterface {
  name = 'ChunkTimedOut1766900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN timed_out boolean NOT NULL DEFAULT false`);
    // Chunks of the last week that the scheduler failed so before this column, by its wordings: an
    // upgrade is when the comparer is stopped, and their results may still wait on the stream.
    await q.query(
      `UPDATE scan_chunks c SET timed_out = true FROM scan_jobs j
        WHERE j.id = c.job_id AND j.agent_id IS NULL AND c.status = 'failed' AND c.finished_at > now() - interval '7 days'
          AND (c.error LIKE 'timed out: worker % did not finish the chunk before its deadline' OR c.error = 'timed out: no scanner worker picked the chunk up before its deadline')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN timed_out`);
  }
}
