import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A delivery can be cancelled: a PagerDuty trigger not yet delivered when a planned change came
 * to cover its change is never sent (the incident would be resolved at once).
 */
export class AlertDeliveryCancelled1765400000000 implements MigrationInterface {
  name = 'AlertDeliveryCancelled1765400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_status_check`);
    await q.query(`ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_status_check CHECK (status IN ('pending','delivered','dead','cancelled'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE alert_deliveries SET status = 'dead' WHERE status = 'cancelled'`);
    await q.query(`ALTER TABLE alert_deliveries DROP CONSTRAINT alert_deliveries_status_check`);
    await q.query(`ALTER TABLE alert_deliveries ADD CONSTRAINT alert_deliveries_status_check CHECK (status IN ('pending','delivered','dead'))`);
  }
}
