import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agent runs in progress. A remote or network scan an agent runs reports its progress
 * (`progress`, percent, and when: `progress_at`), shown in the job's view. The runs that started
 * and have no result yet (`running`, no chunk: an agent run's one chunk is written with its
 * result) are found among the agents' running runs, indexed, by the scheduler's leader: those no process will finish: the
 * process that ran one was replaced (`claimed_boot`, now also set by the scan-start report, is
 * not the agent's boot), or nothing was heard of it (start, progress) for the result timeout.
 */
export class AgentRunProgress1766500000000 implements MigrationInterface {
  name = 'AgentRunProgress1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE scan_jobs ADD COLUMN progress real NOT NULL DEFAULT 0, ADD COLUMN progress_at timestamptz`);
    // Not on chunk_count: the upload that gives a started run its chunk stays a HOT update.
    await q.query(`CREATE INDEX scan_jobs_agent_running_idx ON scan_jobs (agent_id) WHERE agent_id IS NOT NULL AND status = 'running'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_jobs_agent_running_idx`);
    await q.query(`ALTER TABLE scan_jobs DROP COLUMN progress, DROP COLUMN progress_at`);
  }
}
