import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An accepted agent upload is kept as the agent sent it (`body_gzip`: its gzip-compressed JSON,
 * within the gateway's upload limit) with what the hub decided on accepting it (`acceptance`:
 * the chunk, the device, the coverage, a self-scan's address), from which the result message is
 * made again when it is published from the store. The gateway no longer serializes and
 * compresses a second copy of the observations for each upload, and the store holds exactly
 * what the agent reported. Rows written before keep `payload_gzip` or `payload`.
 */
export class AgentUploadBody1765500000000 implements MigrationInterface {
  name = 'AgentUploadBody1765500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agent_uploads ADD COLUMN body_gzip bytea, ADD COLUMN acceptance jsonb`);
    await q.query(`ALTER TABLE agent_uploads DROP CONSTRAINT agent_uploads_payload_check`);
    await q.query(
      `ALTER TABLE agent_uploads ADD CONSTRAINT agent_uploads_payload_check
         CHECK (payload IS NOT NULL OR payload_gzip IS NOT NULL OR (body_gzip IS NOT NULL AND acceptance IS NOT NULL))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    // SQL cannot inflate gzip or make a message from a body: those rows stay as idempotency
    // records with an empty payload, marked published and applied so that neither the leader's
    // sweep nor the comparer's predecessor read ever takes them up (an empty payload would fail them).
    await q.query(`ALTER TABLE agent_uploads DROP CONSTRAINT agent_uploads_payload_check`);
    await q.query(
      `UPDATE agent_uploads SET payload = '{}'::jsonb, published_at = coalesce(published_at, now()), applied_at = coalesce(applied_at, now())
        WHERE payload IS NULL AND payload_gzip IS NULL`,
    );
    await q.query(`ALTER TABLE agent_uploads ADD CONSTRAINT agent_uploads_payload_check CHECK (payload IS NOT NULL OR payload_gzip IS NOT NULL)`);
    await q.query(`ALTER TABLE agent_uploads DROP COLUMN acceptance, DROP COLUMN body_gzip`);
  }
}
