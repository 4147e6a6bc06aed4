import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A chunk's result may arrive in several parts (each complete for its hosts) when it is too
 * large for one message; the chunk records which parts of which scan attempt it has applied.
 */
export class ChunkResultParts1763900000000 implements MigrationInterface {
  name = 'ChunkResultParts1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN result_parts jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN result_parts`);
  }
}
