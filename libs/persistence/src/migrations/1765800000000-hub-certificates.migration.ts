import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The certificates the hub's gateways serve or have staged to serve next, by SHA-256
 * fingerprint: agents that pin a self-signed hub learn every one still in use (over a connection
 * already pinned), so a second gateway replica or a certificate rotation does not strand them.
 */
export class HubCertificates1765800000000 implements MigrationInterface {
  name = 'HubCertificates1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE hub_certificates (
      id uuid PRIMARY KEY,
      fingerprint text NOT NULL UNIQUE CHECK (fingerprint ~ '^([0-9A-F]{2}:){31}[0-9A-F]{2}$'),
      subject text NOT NULL,
      not_after timestamptz NOT NULL,
      served boolean NOT NULL,
      instance text NOT NULL,
      first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      retired_at timestamptz,
      retired_by text,
      announced boolean NOT NULL DEFAULT false)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE hub_certificates`);
  }
}
