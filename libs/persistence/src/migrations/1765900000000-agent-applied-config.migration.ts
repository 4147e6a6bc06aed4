import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The configuration version each agent reports it has applied (on its polls), beside the one the
 * hub holds for it: an operator sees which agents have not yet taken a change (a tracker edited,
 * a certificate staged for rotation).
 */
export class AgentAppliedConfig1765900000000 implements MigrationInterface {
  name = 'AgentAppliedConfig1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN applied_config_version integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents DROP COLUMN applied_config_version`);
  }
}
