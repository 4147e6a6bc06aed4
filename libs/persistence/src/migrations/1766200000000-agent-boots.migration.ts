import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each agent's recent boots (one per start of its process): the host each said it runs on (null
 * from agents before host reports), and when its polls last took over from another boot's. A
 * boot that polls again after another boot of the same agent has polled "returned"; the same boot
 * returning twice within ten minutes means two processes share the agent's identity (an image
 * cloned after enrolment, a second copy started by hand), which the hub flags (`duplicated_at`)
 * and announces until no boot has returned for ten minutes; `duplicate_changed_at` is when the
 * flag was last set or cleared (so every gateway replica's cache of agents learns of it).
 */
export class AgentBoots1766200000000 implements MigrationInterface {
  name = 'AgentBoots1766200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agent_boots (
        agent_id uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        boot_id uuid NOT NULL,
        hostname text,
        os_platform text,
        os_release text,
        os_description text,
        first_seen_at timestamptz NOT NULL,
        polled_at timestamptz,
        returns integer NOT NULL DEFAULT 0,
        returned_at timestamptz,
        PRIMARY KEY (agent_id, boot_id)
      )`);
    await q.query(
      `ALTER TABLE agents ADD COLUMN boot_returns integer NOT NULL DEFAULT 0, ADD COLUMN boot_returned_at timestamptz, ADD COLUMN duplicated_at timestamptz,
       ADD COLUMN duplicate_changed_at timestamptz`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents DROP COLUMN boot_returns, DROP COLUMN boot_returned_at, DROP COLUMN duplicated_at, DROP COLUMN duplicate_changed_at`);
    await q.query(`DROP TABLE agent_boots`);
  }
}
