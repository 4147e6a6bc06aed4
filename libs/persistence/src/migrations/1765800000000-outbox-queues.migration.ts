import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What is still to be sent (events to announce, agent uploads to publish) moves out of the rows
 * themselves into two narrow queues: a row is queued in the statement that writes it, and
 * dequeued (deleted) once the stream has acknowledged it. Before, marking a row sent set
 * `announced_at` or `published_at` on it, and since that column is in a partial index's
 * predicate, every mark was a non-HOT update: a second copy of the whole row (an upload's body
 * with it) and an entry in each of its indexes (five for an event, four for an upload). That
 * was about a third of Postgres's work an agent upload (`npm run bench:agents`, bench/RESULTS.md).
 * A delete from the queue writes no index entry.
 *
 * `unannounced_events` is keyed by `(occurred_at, event_id)`, the order the leader's sweep reads it
 * in; `unpublished_agent_uploads` by the upload id, with the time it was queued for the sweep's
 * grace period. Rows not yet sent are queued here from the columns, which are then dropped.
 */
export class OutboxQueues1765800000000 implements MigrationInterface {
  name = 'OutboxQueues1765800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE unannounced_events (occurred_at timestamptz NOT NULL, event_id uuid NOT NULL, PRIMARY KEY (occurred_at, event_id))`);
    await q.query(`INSERT INTO unannounced_events (occurred_at, event_id) SELECT occurred_at, id FROM events WHERE announced_at IS NULL`);
    await q.query(`DROP INDEX events_unannounced_idx`);
    await q.query(`ALTER TABLE events DROP COLUMN announced_at`);

    await q.query(`CREATE TABLE unpublished_agent_uploads (upload_id uuid PRIMARY KEY, queued_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO unpublished_agent_uploads (upload_id, queued_at) SELECT id, received_at FROM agent_uploads WHERE published_at IS NULL`);
    await q.query(`DROP INDEX agent_uploads_unpublished_idx`);
    await q.query(`ALTER TABLE agent_uploads DROP COLUMN published_at`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agent_uploads ADD COLUMN published_at timestamptz`);
    await q.query(`UPDATE agent_uploads u SET published_at = now() WHERE NOT EXISTS (SELECT 1 FROM unpublished_agent_uploads p WHERE p.upload_id = u.id)`);
    await q.query(`CREATE INDEX agent_uploads_unpublished_idx ON agent_uploads (received_at) WHERE published_at IS NULL`);
    await q.query(`DROP TABLE unpublished_agent_uploads`);

    await q.query(`ALTER TABLE events ADD COLUMN announced_at timestamptz`);
    await q.query(`UPDATE events e SET announced_at = now() WHERE NOT EXISTS (SELECT 1 FROM unannounced_events p WHERE p.occurred_at = e.occurred_at AND p.event_id = e.id)`);
    await q.query(`CREATE INDEX events_unannounced_idx ON events (occurred_at) WHERE announced_at IS NULL`);
    await q.query(`DROP TABLE unannounced_events`);
  }
}
