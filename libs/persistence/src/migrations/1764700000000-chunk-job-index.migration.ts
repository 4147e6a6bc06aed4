import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Chunks by job: settling a chunk reads its job's other chunks, and without this index every
 * result the comparer applies scanned the whole chunks table (measured by `npm run bench:comparer`).
 */
export class ChunkJobIndex1764700000000 implements MigrationInterface {
  name = 'ChunkJobIndex1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX scan_chunks_job_idx ON scan_chunks (job_id, chunk_index)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_chunks_job_idx`);
  }
}
