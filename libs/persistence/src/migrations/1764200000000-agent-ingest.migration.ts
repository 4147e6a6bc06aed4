import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Batched agent ingest. A job has at most one result upload, and the database holds the rule,
 * so two uploads for one job racing through different batches or replicas cannot both be
 * stored. Result payloads are kept gzip-compressed (`payload_gzip`, compressed by the gateway):
 * a few hundred bytes stored inline instead of a 5-50 KB jsonb document that Postgres would
 * parse, compress and move out of line on every insert. Rows written before keep `payload`.
 */
export class AgentIngest1764200000000 implements MigrationInterface {
  name = 'AgentIngest1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX agent_uploads_job_idx`);
    await q.query(`CREATE UNIQUE INDEX agent_uploads_job_key ON agent_uploads (job_id)`);
    await q.query(`ALTER TABLE agent_uploads ADD COLUMN payload_gzip bytea`);
    await q.query(`ALTER TABLE agent_uploads ALTER COLUMN payload DROP NOT NULL`);
    await q.query(`ALTER TABLE agent_uploads ADD CONSTRAINT agent_uploads_payload_check CHECK (payload IS NOT NULL OR payload_gzip IS NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    // SQL cannot inflate gzip: compressed payloads are lost (the rows stay as idempotency
    // records; an empty payload is refused, never published, if the leader tries again).
    await q.query(`ALTER TABLE agent_uploads DROP CONSTRAINT agent_uploads_payload_check`);
    await q.query(`UPDATE agent_uploads SET payload = '{}'::jsonb WHERE payload IS NULL`);
    await q.query(`ALTER TABLE agent_uploads ALTER COLUMN payload SET NOT NULL`);
    await q.query(`ALTER TABLE agent_uploads DROP COLUMN payload_gzip`);
    await q.query(`DROP INDEX agent_uploads_job_key`);
    await q.query(`CREATE INDEX agent_uploads_job_idx ON agent_uploads (job_id)`);
  }
}
