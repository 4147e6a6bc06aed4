import { MigrationInterface, QueryRunner } from 'typeorm';

/** `GET /jobs` lists scan jobs newest first, with a keyset cursor over (requested_at, id). */
export class ScanJobsByRequest1767300000000 implements MigrationInterface {
  name = 'ScanJobsByRequest1767300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX scan_jobs_requested_idx ON scan_jobs (requested_at, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_jobs_requested_idx`);
  }
}
