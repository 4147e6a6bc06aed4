import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When an agent was last given a configuration that left out a tracker of its (the device's host
 * name did not resolve, or its address is outside the scope guard). The scheduler's leader has
 * such an agent fetch its configuration again a while later (a new `config_version`), so a
 * tracker left out for a passing reason comes back without an edit. Indexed where set: the
 * leader looks for them at each tick.
 */
export class AgentConfigIncomplete1766700000000 implements MigrationInterface {
  name = 'AgentConfigIncomplete1766700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN config_incomplete_at timestamptz`);
    await q.query(`CREATE INDEX agents_config_incomplete_idx ON agents (config_incomplete_at) WHERE config_incomplete_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX agents_config_incomplete_idx`);
    await q.query(`ALTER TABLE agents DROP COLUMN config_incomplete_at`);
  }
}
