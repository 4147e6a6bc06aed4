import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agentless collectors: credentials get a clear username and domain, and the names of their
 * sealed secrets, beside the secrets; trackers get an `agentless` mode with its collector (protocol, profile, port);
 * chunks say whether they are a scan or a collection; SSH host keys are pinned per device
 * (trust on first use), with a changed key held apart until an operator accepts it.
 */
export class Collectors1764300000000 implements MigrationInterface {
  name = 'Collectors1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE credentials ADD COLUMN username text`);
    await q.query(`ALTER TABLE credentials ADD COLUMN domain text`);
    // Which secrets are sealed (names only), so listing credentials never has to open them.
    await q.query(`ALTER TABLE credentials ADD COLUMN secret_fields jsonb NOT NULL DEFAULT '[]'`);
    await q.query(`ALTER TABLE credentials ADD COLUMN updated_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())`);
    await q.query(`ALTER TABLE trackers ADD COLUMN collector jsonb`);
    await q.query(`ALTER TABLE trackers DROP CONSTRAINT trackers_mode_check`);
    await q.query(`ALTER TABLE trackers ADD CONSTRAINT trackers_mode_check CHECK (mode IN ('network','remote','self','agentless'))`);
    await q.query(`ALTER TABLE trackers ADD CONSTRAINT trackers_collector_check CHECK ((mode = 'agentless') = (collector IS NOT NULL))`);
    await q.query(`ALTER TABLE scan_chunks ADD COLUMN kind text NOT NULL DEFAULT 'scan' CHECK (kind IN ('scan','collect'))`);
    await q.query(`CREATE TABLE device_host_keys (
      device_id uuid PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
      algorithm text NOT NULL,
      fingerprint text NOT NULL,
      first_seen_at timestamptz NOT NULL,
      accepted_at timestamptz NOT NULL,
      pending_algorithm text,
      pending_fingerprint text,
      pending_seen_at timestamptz)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE device_host_keys`);
    await q.query(`ALTER TABLE scan_chunks DROP COLUMN kind`);
    await q.query(`ALTER TABLE trackers DROP CONSTRAINT trackers_collector_check`);
    await q.query(`DELETE FROM trackers WHERE mode = 'agentless'`);
    await q.query(`ALTER TABLE trackers DROP CONSTRAINT trackers_mode_check`);
    await q.query(`ALTER TABLE trackers ADD CONSTRAINT trackers_mode_check CHECK (mode IN ('network','remote','self'))`);
    await q.query(`ALTER TABLE trackers DROP COLUMN collector`);
    await q.query(`ALTER TABLE credentials DROP COLUMN updated_at`);
    await q.query(`ALTER TABLE credentials DROP COLUMN secret_fields`);
    await q.query(`ALTER TABLE credentials DROP COLUMN domain`);
    await q.query(`ALTER TABLE credentials DROP COLUMN username`);
  }
}
