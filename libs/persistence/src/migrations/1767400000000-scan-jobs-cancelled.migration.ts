import { MigrationInterface, QueryRunner } from 'typeorm';

/** When an operator cancelled a job (`POST /jobs/:id/cancel`): its workers are told again, and a late result never reopens it. */
export class ScanJobsCancelled1767400000000 implements MigrationInterface {
  name = 'ScanJobsCancelled1767400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_jobs ADD COLUMN cancelled_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_jobs DROP COLUMN cancelled_at`);
  }
}
