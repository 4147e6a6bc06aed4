import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A worker name's process (`started_at`) told from the next: when the hub first heard it, the other
 * process under the name (the one it replaced while that was online, judged after a grace: a
 * restart without a word or a second process, `worker-name-conflict`; or one that stopped), and
 * the restarts not yet reported (`worker-restarted`).
 */
export class WorkerProcesses1767200000000 implements MigrationInterface {
  name = 'WorkerProcesses1767200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workers
      ADD COLUMN started_seen_at timestamptz,
      ADD COLUMN other_started_at timestamptz,
      ADD COLUMN other_seen_at timestamptz,
      ADD COLUMN other_state text CHECK (other_state IN ('replaced', 'conflict', 'stopped')),
      ADD COLUMN restarts integer NOT NULL DEFAULT 0,
      ADD COLUMN restart_reported_at timestamptz`);
    await q.query(`UPDATE workers SET started_seen_at = first_seen_at`);
    await q.query(`ALTER TABLE workers ALTER COLUMN started_seen_at SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workers DROP COLUMN started_seen_at, DROP COLUMN other_started_at, DROP COLUMN other_seen_at, DROP COLUMN other_state, DROP COLUMN restarts, DROP COLUMN restart_reported_at`);
  }
}
