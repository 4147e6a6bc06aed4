import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Clones given identities of their own. While two processes poll as one agent
 * (`duplicated_at`), the hub keeps the identity with one of them (`duplicate_kept_boot`, last
 * heard from at `duplicate_kept_seen_at`; `duplicate_contested_at`, another boot's first poll
 * since: after two minutes of those without it, it is replaced); each
 * other one that polls again is told to ask for an identity of its own (`POST
 * /api/agent/reenrol`), paid for with a use of the agent's enrolment token. The boot remembers the
 * agent it became (`reenrolled_as`), so a call whose answer was lost is answered with the same
 * agent again.
 */
export class AgentClones1766300000000 implements MigrationInterface {
  name = 'AgentClones1766300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN duplicate_kept_boot uuid, ADD COLUMN duplicate_kept_seen_at timestamptz, ADD COLUMN duplicate_contested_at timestamptz`);
    await q.query(`ALTER TABLE agent_boots ADD COLUMN reenrolled_as uuid REFERENCES agents(id) ON DELETE SET NULL, ADD COLUMN reenrolled_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agent_boots DROP COLUMN reenrolled_as, DROP COLUMN reenrolled_at`);
    await q.query(`ALTER TABLE agents DROP COLUMN duplicate_kept_boot, DROP COLUMN duplicate_kept_seen_at, DROP COLUMN duplicate_contested_at`);
  }
}
