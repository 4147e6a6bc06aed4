import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bearer tokens of the operator API, kept as SHA-256 hashes, each an admin or a viewer; the audit
 * log keeps the token each operator call was made with beside the actor the call names.
 */
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
    await q.query(`ALTER TABLE audit_log ADD COLUMN caller_token_id uuid, ADD COLUMN caller_name text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE audit_log DROP COLUMN caller_token_id, DROP COLUMN caller_name`);
    await q.query(`DROP TABLE operator_tokens`);
  }
}
