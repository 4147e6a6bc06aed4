import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How far each agent's clock is from the hub's (agent − hub, ms, at its last poll; null when the
 * agent does not say), and whether the hub holds it skewed, which a communications event announces.
 */
export class AgentClock1766100000000 implements MigrationInterface {
  name = 'AgentClock1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN clock_offset_ms bigint, ADD COLUMN clock_skewed boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents DROP COLUMN clock_offset_ms, DROP COLUMN clock_skewed`);
  }
}
