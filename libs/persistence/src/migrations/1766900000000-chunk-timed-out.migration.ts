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
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN timed_out`);
  }
}
