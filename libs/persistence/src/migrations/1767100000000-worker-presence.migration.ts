import { MigrationInterface, QueryRunner } from 'typeorm';

/** The scanner workers and collectors the hub has heard from (`WorkerEntity`): `GET /workers`, `worker-offline` events, and whether a site has a worker that paces. */
export class WorkerPresence1767100000000 implements MigrationInterface {
  name = 'WorkerPresence1767100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE workers (
      kind text NOT NULL CHECK (kind IN ('scanner', 'collector')),
      name text NOT NULL,
      site text NOT NULL,
      version text NOT NULL,
      features jsonb NOT NULL DEFAULT '[]',
      concurrency integer NOT NULL,
      busy integer NOT NULL DEFAULT 0,
      started_at timestamptz NOT NULL,
      first_seen_at timestamptz NOT NULL,
      last_seen_at timestamptz NOT NULL,
      status text NOT NULL CHECK (status IN ('online', 'offline', 'stopped')),
      PRIMARY KEY (kind, name)
    )`);
    await q.query(`CREATE INDEX workers_site_idx ON workers (site, kind)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE workers`);
  }
}
