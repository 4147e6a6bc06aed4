import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which agent process claimed a run (`claimed_boot`, the boot of its poll) and when
 * (`claimed_at`). A run an agent claimed lives only in that process's memory until it starts;
 * a run still `queued` when another process of the agent polls (a restart, a clone's runs once it
 * has an identity of its own) is handed to that one, and one whose agent went away is failed
 * once it has waited past the pickup timeout. The claim looks among an agent's pending and
 * queued runs, so the index covers both (it replaced `scan_jobs_agent_pending_idx`).
 */
export class AgentRunClaims1766400000000 implements MigrationInterface {
  name = 'AgentRunClaims1766400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_jobs ADD COLUMN claimed_boot uuid, ADD COLUMN claimed_at timestamptz`);
    await q.query(`CREATE INDEX scan_jobs_agent_open_idx ON scan_jobs (agent_id, requested_at) WHERE agent_id IS NOT NULL AND status IN ('pending', 'queued')`);
    await q.query(`DROP INDEX scan_jobs_agent_pending_idx`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX scan_jobs_agent_pending_idx ON scan_jobs (agent_id, requested_at) WHERE agent_id IS NOT NULL AND status = 'pending'`);
    await q.query(`DROP INDEX scan_jobs_agent_open_idx`);
    await q.query(`ALTER TABLE scan_jobs DROP COLUMN claimed_boot, DROP COLUMN claimed_at`);
  }
}
