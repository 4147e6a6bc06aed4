import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Noise control and coverage-aware baselines: per tracker, the consecutive complete scans a
 * change must be seen in before it is reported, the flapping threshold, and what a UDP
 * `open|filtered` port counts as; per device, an override of "send baseline events"; per
 * baseline host, the coverage (ports, item types) it was made over, so that ports newly brought
 * into range are baselined rather than reported; the changes waiting for confirmation; the
 * recent changes of items, to see flapping; and the flapping event kinds.
 */
export class NoiseControl1764500000000 implements MigrationInterface {
  name = 'NoiseControl1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE trackers ADD COLUMN confirmations integer NOT NULL DEFAULT 1 CONSTRAINT trackers_confirmations_check CHECK (confirmations BETWEEN 1 AND 10)`);
    await q.query(`ALTER TABLE trackers ADD COLUMN flapping jsonb`);
    await q.query(`ALTER TABLE trackers ADD COLUMN udp_open_filtered text NOT NULL DEFAULT 'closed' CONSTRAINT trackers_udp_open_filtered_check CHECK (udp_open_filtered IN ('open','closed','ignore'))`);
    await q.query(`ALTER TABLE devices ADD COLUMN send_baseline_events boolean`);
    await q.query(`ALTER TABLE baselines ADD COLUMN coverage jsonb`);
    await q.query(`CREATE TABLE pending_changes (
      tracker_id uuid NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
      host text NOT NULL,
      item_type text NOT NULL,
      item_key text NOT NULL,
      kind text NOT NULL CHECK (kind IN ('added','removed','modified')),
      before jsonb,
      after jsonb,
      seen integer NOT NULL,
      first_seen_at timestamptz NOT NULL,
      first_job_id uuid NOT NULL,
      PRIMARY KEY (tracker_id, host, item_type, item_key))`);
    await q.query(`CREATE TABLE item_flaps (
      tracker_id uuid NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
      host text NOT NULL,
      item_type text NOT NULL,
      item_key text NOT NULL,
      changes jsonb NOT NULL,
      flapping_since timestamptz,
      PRIMARY KEY (tracker_id, host, item_type, item_key))`);
    await q.query(`ALTER TABLE events DROP CONSTRAINT events_kind_check`);
    await q.query(`ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN ('added','removed','modified','baseline','communications','flapping-started','flapping-stopped'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM events WHERE kind IN ('flapping-started','flapping-stopped')`);
    await q.query(`ALTER TABLE events DROP CONSTRAINT events_kind_check`);
    await q.query(`ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN ('added','removed','modified','baseline','communications'))`);
    await q.query(`DROP TABLE item_flaps`);
    await q.query(`DROP TABLE pending_changes`);
    await q.query(`ALTER TABLE baselines DROP COLUMN coverage`);
    await q.query(`ALTER TABLE devices DROP COLUMN send_baseline_events`);
    await q.query(`ALTER TABLE trackers DROP COLUMN udp_open_filtered`);
    await q.query(`ALTER TABLE trackers DROP COLUMN flapping`);
    await q.query(`ALTER TABLE trackers DROP COLUMN confirmations`);
  }
}
