import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Re-probe before reporting: a tracker may ask that a change be seen once more, by a scan of
 * just the changed ports of that host run at once, before it is reported. Such a scan is a job
 * of trigger `reprobe` whose `probe` names the hosts and ports it looks at.
 */
export class Reprobe1765200000000 implements MigrationInterface {
  name = 'Reprobe1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE trackers ADD COLUMN reprobe boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE scan_jobs ADD COLUMN probe jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM scan_jobs WHERE trigger = 'reprobe'`);
    await q.query(`ALTER TABLE scan_jobs DROP COLUMN probe`);
    await q.query(`ALTER TABLE trackers DROP COLUMN reprobe`);
  }
}
