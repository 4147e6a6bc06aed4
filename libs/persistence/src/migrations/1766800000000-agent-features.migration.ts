import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What each agent program said it can do (`AgentFeatures`), at enrolment and on the first poll of
 * each boot: the hub hands an agent only the work it can do as asked (a paced scan to an agent
 * that paces). Agents from before the list said nothing, and can do none of it.
 */
export class AgentFeatures1766800000000 implements MigrationInterface {
  name = 'AgentFeatures1766800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN features text[] NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents DROP COLUMN features`);
  }
}
