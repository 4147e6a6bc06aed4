import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A paced tracker's scans are scanned one chunk at a time, so that they keep to its `maxRate`
 * between them however many workers its site has: its chunks are `held` (stored, not published)
 * until it is their turn. The partial index finds the few held chunks among all.
 */
export class PacedChunksInTurn1767000000000 implements MigrationInterface {
  name = 'PacedChunksInTurn1767000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN held boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE INDEX scan_chunks_held_idx ON scan_chunks (job_id, chunk_index) WHERE held`);
    // Held chunks are unpublished by design, not for want of a publish: the leader's retry looks past them.
    await q.query(`DROP INDEX scan_chunks_unpublished_idx`);
    await q.query(`CREATE INDEX scan_chunks_unpublished_idx ON scan_chunks (queued_at) WHERE published_at IS NULL AND status = 'queued' AND NOT held`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_chunks_unpublished_idx`);
    await q.query(`CREATE INDEX scan_chunks_unpublished_idx ON scan_chunks (queued_at) WHERE published_at IS NULL AND status = 'queued'`);
    await q.query(`DROP INDEX scan_chunks_held_idx`);
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN held`);
  }
}
