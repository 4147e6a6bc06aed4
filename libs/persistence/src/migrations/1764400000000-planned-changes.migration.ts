import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Planned changes: a window, a scope of devices and groups, rules, an approval; the change
 * proposals that recording mode collects; events linked to the planned change that classified
 * them, and the time their change was observed (what a window is about, where `occurred_at` is
 * when the comparer recorded it); an audit log of what operators did and why.
 */
export class PlannedChanges1764400000000 implements MigrationInterface {
  name = 'PlannedChanges1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE planned_changes (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      description text,
      status text NOT NULL CHECK (status IN ('draft','approved')),
      mode text NOT NULL CHECK (mode IN ('rules','recording')),
      window_start timestamptz NOT NULL,
      window_end timestamptz,
      device_ids uuid[] NOT NULL DEFAULT '{}',
      group_ids uuid[] NOT NULL DEFAULT '{}',
      rules jsonb NOT NULL DEFAULT '[]',
      created_by text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      approved_by text,
      approved_at timestamptz,
      CONSTRAINT planned_changes_window_check CHECK (window_end IS NULL OR window_end > window_start),
      CONSTRAINT planned_changes_scope_check CHECK (cardinality(device_ids) + cardinality(group_ids) > 0),
      CONSTRAINT planned_changes_approval_check CHECK ((status = 'approved') = (approved_by IS NOT NULL)))`);
    await q.query(`CREATE INDEX planned_changes_active_idx ON planned_changes (window_start, window_end) WHERE status = 'approved'`);
    await q.query(`CREATE TABLE planned_change_proposals (
      planned_change_id uuid NOT NULL REFERENCES planned_changes(id) ON DELETE CASCADE,
      rule_key text NOT NULL,
      rule jsonb NOT NULL,
      first_event_id uuid NOT NULL,
      seen integer NOT NULL DEFAULT 1,
      first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      PRIMARY KEY (planned_change_id, rule_key))`);
    await q.query(`ALTER TABLE events ADD COLUMN planned_change_id uuid`);
    await q.query(`ALTER TABLE events ADD COLUMN observed_at timestamptz`);
    await q.query(`CREATE INDEX events_planned_change_idx ON events (planned_change_id) WHERE planned_change_id IS NOT NULL`);
    await q.query(`CREATE TABLE audit_log (
      id uuid PRIMARY KEY,
      at timestamptz NOT NULL,
      actor text NOT NULL,
      action text NOT NULL,
      subject_type text NOT NULL,
      subject_id uuid NOT NULL,
      justification text,
      details jsonb)`);
    await q.query(`CREATE INDEX audit_log_subject_idx ON audit_log (subject_type, subject_id, at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
    await q.query(`DROP INDEX events_planned_change_idx`);
    await q.query(`ALTER TABLE events DROP COLUMN observed_at`);
    await q.query(`ALTER TABLE events DROP COLUMN planned_change_id`);
    await q.query(`DROP TABLE planned_change_proposals`);
    await q.query(`DROP TABLE planned_changes`);
  }
}
