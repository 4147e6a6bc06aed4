import { MigrationInterface, QueryRunner } from 'typeorm';

/** One event by its id (`GET /api/events/:id`, the link every alert carries) without scanning every partition. */
export class EventIdIndex1765300000000 implements MigrationInterface {
  name = 'EventIdIndex1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX events_id_idx ON events (id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX events_id_idx`);
  }
}
