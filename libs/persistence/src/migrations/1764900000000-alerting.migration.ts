import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Alerting: channels (their settings, and their secrets sealed under the master key), rules
 * (scope, filter, severity, channels) and deliveries: one per event, rule and channel (the
 * dedupe key), with their attempts, next attempt, last error and latency; a dead delivery waits
 * for an operator's retry; storm control's counts per rule and window.
 */
export class Alerting1764900000000 implements MigrationInterface {
  name = 'Alerting1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE alert_channels (
      id uuid PRIMARY KEY,
      name text NOT NULL UNIQUE,
      type text NOT NULL CHECK (type IN ('webhook','slack','teams','pagerduty','splunk-hec','syslog','email')),
      settings jsonb NOT NULL,
      secret_ciphertext bytea,
      secret_fields jsonb NOT NULL DEFAULT '[]',
      status text NOT NULL DEFAULT 'healthy' CHECK (status IN ('healthy','degraded')),
      status_reason text,
      created_at timestamptz NOT NULL)`);
    await q.query(`CREATE TABLE alert_rules (
      id uuid PRIMARY KEY,
      name text NOT NULL,
      enabled boolean NOT NULL,
      scope jsonb NOT NULL,
      filter jsonb NOT NULL,
      severity text NOT NULL CHECK (severity IN ('info','low','medium','high','critical')),
      channel_ids uuid[] NOT NULL,
      storm jsonb,
      created_at timestamptz NOT NULL)`);
    // Storm control: alerts sent and held back per rule and fixed window; a summary of the held
    // back ones goes out once the window is over.
    await q.query(`CREATE TABLE alert_storms (
      rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
      window_start timestamptz NOT NULL,
      window_seconds integer NOT NULL,
      alerted integer NOT NULL DEFAULT 0,
      suppressed integer NOT NULL DEFAULT 0,
      /** The first held-back changes (at most 100), listed in the summary. */
      samples jsonb NOT NULL DEFAULT '[]',
      summarized_at timestamptz,
      PRIMARY KEY (rule_id, window_start))`);
    await q.query(`CREATE INDEX alert_storms_open_idx ON alert_storms (window_start) WHERE suppressed > 0 AND summarized_at IS NULL`);
    await q.query(`CREATE TABLE alert_deliveries (
      id uuid PRIMARY KEY,
      dedupe_key text NOT NULL UNIQUE,
      /** Null for a storm-control summary, which stands for many events. */
      event_id uuid,
      rule_id uuid NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
      channel_id uuid NOT NULL REFERENCES alert_channels(id) ON DELETE CASCADE,
      alert jsonb NOT NULL,
      status text NOT NULL CHECK (status IN ('pending','delivered','dead')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      last_error text,
      created_at timestamptz NOT NULL,
      event_occurred_at timestamptz NOT NULL,
      delivered_at timestamptz,
      latency_ms integer)`);
    await q.query(`CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX alert_deliveries_channel_idx ON alert_deliveries (channel_id, created_at DESC)`);
    // Storm control asks whether an event was alerted by a rule already (a redelivery).
    await q.query(`CREATE INDEX alert_deliveries_event_idx ON alert_deliveries (event_id, rule_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE alert_storms`);
    await q.query(`DROP TABLE alert_deliveries`);
    await q.query(`DROP TABLE alert_rules`);
    await q.query(`DROP TABLE alert_channels`);
  }
}
