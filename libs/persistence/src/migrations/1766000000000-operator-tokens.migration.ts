import { MigrationInterface, QueryRunner } from 'typeorm';

/** Bearer tokens of the operator API, kept as SHA-256 hashes, each an admin or a viewer. */
export class OperatorTokens1766000000000 implements MigrationInterface {
  name = 'OperatorTokens1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE operator_tokens (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'viewer')),
        token_hash bytea NOT NULL UNIQUE,
        token_hint text NOT NULL,
        created_at timestamptz NOT NULL,
        created_by text NOT NULL,
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz,
        revoked_by text
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE operator_tokens`);
  }
}
