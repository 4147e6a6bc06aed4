import { MigrationInterface, QueryRunner } from 'typeorm';

/** Alert rules map events to severities (first matching line wins; the rule's severity otherwise). */
export class AlertRuleSeverity1765100000000 implements MigrationInterface {
  name = 'AlertRuleSeverity1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert_rules ADD COLUMN severity_map jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`ALTER TABLE alert_rules ADD COLUMN updated_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE alert_rules DROP COLUMN updated_at`);
    await q.query(`ALTER TABLE alert_rules DROP COLUMN severity_map`);
  }
}
