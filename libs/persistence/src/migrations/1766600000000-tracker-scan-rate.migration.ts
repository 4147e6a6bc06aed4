import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A tracker's scan pace: at most `max_rate` probes a second for each nmap it runs (a scanner
 * worker's chunk, or a scanning agent's scan), for WAN links and devices a full-speed scan would
 * hurt. Null: nmap's own pace, as before.
 */
export class TrackerScanRate1766600000000 implements MigrationInterface {
  name = 'TrackerScanRate1766600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE trackers ADD COLUMN max_rate double precision CHECK (max_rate > 0 AND max_rate <= 1000000)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE trackers DROP COLUMN max_rate`);
  }
}
