import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events of the hub itself (an alert channel degraded or delivering again) belong to no device:
 * `events.device_id` may be null. Such events are counted estate-wide only.
 */
export class HubEvents1765000000000 implements MigrationInterface {
  name = 'HubEvents1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE events ALTER COLUMN device_id DROP NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM events WHERE device_id IS NULL`);
    await q.query(`ALTER TABLE events ALTER COLUMN device_id SET NOT NULL`);
  }
}
