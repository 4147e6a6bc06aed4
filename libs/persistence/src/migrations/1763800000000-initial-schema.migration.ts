import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema: inventory (sites, credentials, devices, trackers), scan jobs and chunks,
 * baseline state (baselines, current_items), events partitioned by month, the consumer inbox
 * and leader leases. Runs unchanged on Postgres and PGlite.
 */
export class InitialSchema1763800000000 implements MigrationInterface {
  name = 'InitialSchema1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE sites (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE credentials (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      type text NOT NULL CHECK (type IN ('no-connection-required','ssh-password','ssh-key','telnet','smb')),
      secret_ciphertext bytea,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE TABLE devices (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('network','host')),
      address text NOT NULL,
      normalized_address text NOT NULL,
      host_count integer NOT NULL,
      site_id uuid REFERENCES sites(id) ON DELETE RESTRICT,
      credential_id uuid REFERENCES credentials(id) ON DELETE RESTRICT,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX devices_site_idx ON devices (site_id)`);
    await q.query(`CREATE INDEX devices_name_idx ON devices (name)`);
    await q.query(`CREATE TABLE trackers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      type text NOT NULL CHECK (type IN ('network-port')),
      mode text NOT NULL CHECK (mode IN ('network','remote')),
      port_rules jsonb NOT NULL,
      port_set jsonb NOT NULL,
      schedule jsonb NOT NULL,
      send_baseline_events boolean NOT NULL,
      tcp_technique text NOT NULL CHECK (tcp_technique IN ('auto','connect','syn')),
      skip_host_discovery boolean NOT NULL DEFAULT false,
      enabled boolean NOT NULL DEFAULT true,
      next_run_at timestamptz,
      last_run_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX trackers_device_idx ON trackers (device_id)`);
    await q.query(`CREATE INDEX trackers_due_idx ON trackers (next_run_at) WHERE enabled AND next_run_at IS NOT NULL`);
    await q.query(`CREATE TABLE scan_jobs (
      id uuid PRIMARY KEY,
      tracker_id uuid NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
      device_id uuid NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
      site text,
      trigger text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending','queued','running','succeeded','partial','failed')),
      hosts_planned integer NOT NULL DEFAULT 0,
      probes_planned integer NOT NULL DEFAULT 0,
      hosts_done integer NOT NULL DEFAULT 0,
      probes_done integer NOT NULL DEFAULT 0,
      hosts_up integer NOT NULL DEFAULT 0,
      chunk_count integer NOT NULL DEFAULT 0,
      chunks_done integer NOT NULL DEFAULT 0,
      chunks_failed integer NOT NULL DEFAULT 0,
      requested_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      duration_ms integer,
      error text)`);
    await q.query(`CREATE INDEX scan_jobs_tracker_idx ON scan_jobs (tracker_id, requested_at DESC)`);
    await q.query(`CREATE INDEX scan_jobs_open_idx ON scan_jobs (status) WHERE status IN ('pending','queued','running')`);
    await q.query(`CREATE TABLE scan_chunks (
      id uuid PRIMARY KEY,
      job_id uuid NOT NULL REFERENCES scan_jobs(id) ON DELETE CASCADE,
      chunk_index integer NOT NULL,
      targets jsonb NOT NULL,
      host_count integer NOT NULL,
      probe_count integer NOT NULL,
      status text NOT NULL CHECK (status IN ('queued','running','done','failed')),
      progress real NOT NULL DEFAULT 0,
      hosts_done integer NOT NULL DEFAULT 0,
      worker text,
      engine text,
      engine_version text,
      args jsonb,
      queued_at timestamptz NOT NULL,
      started_at timestamptz,
      finished_at timestamptz,
      deadline timestamptz NOT NULL,
      error text,
      UNIQUE (job_id, chunk_index))`);
    await q.query(`CREATE INDEX scan_chunks_open_idx ON scan_chunks (deadline) WHERE status IN ('queued','running')`);
    await q.query(`CREATE TABLE baselines (
      tracker_id uuid NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
      host text NOT NULL,
      device_id uuid NOT NULL,
      baselined_at timestamptz NOT NULL,
      observed_at timestamptz NOT NULL,
      last_job_id uuid NOT NULL,
      PRIMARY KEY (tracker_id, host))`);
    await q.query(`CREATE TABLE current_items (
      tracker_id uuid NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
      host text NOT NULL,
      item_type text NOT NULL,
      item_key text NOT NULL,
      device_id uuid NOT NULL,
      attributes jsonb NOT NULL,
      first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      last_job_id uuid NOT NULL,
      PRIMARY KEY (tracker_id, host, item_type, item_key))`);
    await q.query(`CREATE INDEX current_items_device_idx ON current_items (device_id, host, item_type, item_key)`);
    await q.query(`CREATE TABLE events (
      id uuid NOT NULL,
      occurred_at timestamptz NOT NULL,
      kind text NOT NULL CHECK (kind IN ('added','removed','modified','baseline','communications')),
      device_id uuid NOT NULL,
      tracker_id uuid,
      job_id uuid,
      host text,
      item_type text,
      item_key text,
      before jsonb,
      after jsonb,
      planned boolean NOT NULL DEFAULT false,
      details jsonb,
      PRIMARY KEY (occurred_at, id)) PARTITION BY RANGE (occurred_at)`);
    // Rows outside every monthly partition land here; maintenance adds months ahead of time.
    await q.query(`CREATE TABLE events_default PARTITION OF events DEFAULT`);
    await q.query(`CREATE INDEX events_time_idx ON events (occurred_at DESC, id DESC)`);
    await q.query(`CREATE INDEX events_device_idx ON events (device_id, occurred_at DESC, id DESC)`);
    await q.query(`CREATE INDEX events_tracker_idx ON events (tracker_id, occurred_at DESC, id DESC)`);
    await q.query(`CREATE INDEX events_job_idx ON events (job_id)`);
    await q.query(`CREATE TABLE inbox (
      message_id uuid NOT NULL,
      consumer text NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (message_id, consumer))`);
    await q.query(`CREATE TABLE leader_leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      expires_at timestamptz NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['leader_leases', 'inbox', 'events', 'current_items', 'baselines', 'scan_chunks', 'scan_jobs', 'trackers', 'devices', 'credentials', 'sites']) {
      await q.query(`DROP TABLE IF EXISTS ${table} CASCADE`);
    }
  }
}
