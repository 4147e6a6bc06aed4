import { MigrationInterface, QueryRunner } from 'typeorm';

/** Agents: enrolment tokens, agents, device groups, result uploads; trackers and jobs an agent runs. */
export class Agents1764100000000 implements MigrationInterface {
  name = 'Agents1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE device_groups (
      id uuid PRIMARY KEY, name text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()))`);
    await q.query(`CREATE TABLE device_group_members (
      group_id uuid NOT NULL REFERENCES device_groups(id) ON DELETE CASCADE,
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      PRIMARY KEY (group_id, device_id))`);
    await q.query(`CREATE INDEX device_group_members_device_idx ON device_group_members (device_id)`);
    await q.query(`CREATE TABLE enrollment_tokens (
      id uuid PRIMARY KEY, name text NOT NULL, token_hash bytea NOT NULL UNIQUE, token_hint text NOT NULL,
      site_id uuid REFERENCES sites(id), expires_at timestamptz NOT NULL, max_uses integer NOT NULL CHECK (max_uses > 0),
      uses integer NOT NULL DEFAULT 0, group_rules jsonb NOT NULL DEFAULT '[]', scanner boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()), revoked_at timestamptz)`);
    await q.query(`CREATE TABLE agents (
      id uuid PRIMARY KEY, name text NOT NULL, hostname text NOT NULL, os_platform text NOT NULL, os_release text NOT NULL,
      os_description text, version text NOT NULL, site_id uuid REFERENCES sites(id), device_id uuid NOT NULL UNIQUE REFERENCES devices(id),
      token_id uuid REFERENCES enrollment_tokens(id), scanner boolean NOT NULL, secret_hash bytea NOT NULL, status text NOT NULL,
      boot_id uuid, last_seen_at timestamptz, spool_entries integer NOT NULL DEFAULT 0, spool_dropped integer NOT NULL DEFAULT 0,
      config_version integer NOT NULL DEFAULT 1, auth_failures integer NOT NULL DEFAULT 0,
      enrolled_at timestamptz NOT NULL, secret_rotated_at timestamptz, revoked_at timestamptz)`);
    await q.query(`CREATE INDEX agents_liveness_idx ON agents (status, last_seen_at)`);
    await q.query(`CREATE TABLE agent_uploads (
      id uuid PRIMARY KEY, seq bigserial NOT NULL, agent_id uuid NOT NULL REFERENCES agents(id), idempotency_key text NOT NULL,
      job_id uuid NOT NULL, tracker_id uuid NOT NULL, kind text NOT NULL, payload jsonb NOT NULL,
      received_at timestamptz NOT NULL, published_at timestamptz, applied_at timestamptz,
      UNIQUE (agent_id, idempotency_key))`);
    await q.query(`CREATE INDEX agent_uploads_unapplied_idx ON agent_uploads (tracker_id, seq) WHERE applied_at IS NULL`);
    await q.query(`CREATE INDEX agent_uploads_unpublished_idx ON agent_uploads (received_at) WHERE published_at IS NULL`);
    await q.query(`CREATE INDEX agent_uploads_job_idx ON agent_uploads (job_id)`);
    await q.query(`ALTER TABLE trackers ADD COLUMN agent_id uuid REFERENCES agents(id)`);
    // A self-scan tracker (the agent lists its own sockets) is a third mode.
    await q.query(`ALTER TABLE trackers DROP CONSTRAINT trackers_mode_check`);
    await q.query(`ALTER TABLE trackers ADD CONSTRAINT trackers_mode_check CHECK (mode IN ('network','remote','self'))`);
    await q.query(`CREATE INDEX trackers_agent_idx ON trackers (agent_id) WHERE agent_id IS NOT NULL`);
    await q.query(`ALTER TABLE scan_jobs ADD COLUMN agent_id uuid`);
    await q.query(`CREATE INDEX scan_jobs_agent_pending_idx ON scan_jobs (agent_id, requested_at) WHERE agent_id IS NOT NULL AND status = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX scan_jobs_agent_pending_idx`);
    await q.query(`ALTER TABLE scan_jobs DROP COLUMN agent_id`);
    await q.query(`DROP INDEX trackers_agent_idx`);
    // Self-scan trackers cannot exist without agents; their jobs, baselines and items go with them.
    await q.query(`DELETE FROM trackers WHERE mode = 'self'`);
    await q.query(`ALTER TABLE trackers DROP CONSTRAINT trackers_mode_check`);
    await q.query(`ALTER TABLE trackers ADD CONSTRAINT trackers_mode_check CHECK (mode IN ('network','remote'))`);
    await q.query(`ALTER TABLE trackers DROP COLUMN agent_id`);
    await q.query(`DROP TABLE agent_uploads`);
    await q.query(`DROP TABLE agents`);
    await q.query(`DROP TABLE enrollment_tokens`);
    await q.query(`DROP TABLE device_group_members`);
    await q.query(`DROP TABLE device_groups`);
  }
}
