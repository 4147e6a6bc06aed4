import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A paced run's chunks are scanned one after another, so that the run as a whole keeps to its
 * tracker's `maxRate` however many workers its site has: each chunk after the first is `held`
 * (stored, not published) until the one before it is settled. The partial index finds the few
 * held chunks among all.
 */
export class PacedChunksInTurn1767000000000 implements MigrationInterface {
  name = 'PacedChunksInTurn1767000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN held boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE INDEX scan_chunks_held_idx ON scan_chunks (job_id, chunk_index) WHERE held`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_chunks_held_idx`);
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN held`);
  }
}
