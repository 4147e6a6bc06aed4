import { MigrationInterface, QueryRunner } from 'typeorm';

/** The estate-count shard of a device: the low 4 bits of its id's last hex digit. */
export const ESTATE_SHARD_SQL = (column: string) => `('x' || right(${column}::text, 1))::bit(4)::int`;

/**
 * Event counts per UTC day, kind and planned flag, kept as events are recorded (and
 * re-classified): the console's charts read these instead of counting millions of events. Per
 * device (for a device's or a group's chart), and for the whole estate in 16 shards by device,
 * so that writers of different devices rarely wait on the same row.
 */
export class EventCounts1764800000000 implements MigrationInterface {
  name = 'EventCounts1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE event_counts (
      day date NOT NULL,
      device_id uuid NOT NULL,
      kind text NOT NULL,
      planned boolean NOT NULL,
      n bigint NOT NULL,
      PRIMARY KEY (day, device_id, kind, planned))`);
    await q.query(`CREATE INDEX event_counts_device_idx ON event_counts (device_id, day)`);
    await q.query(`CREATE TABLE event_counts_estate (
      day date NOT NULL,
      shard smallint NOT NULL,
      kind text NOT NULL,
      planned boolean NOT NULL,
      n bigint NOT NULL,
      PRIMARY KEY (day, kind, planned, shard))`);
    await q.query(
      `INSERT INTO event_counts (day, device_id, kind, planned, n)
       SELECT (occurred_at AT TIME ZONE 'UTC')::date, device_id, kind, planned, count(*) FROM events GROUP BY 1, 2, 3, 4`,
    );
    await q.query(
      `INSERT INTO event_counts_estate (day, shard, kind, planned, n)
       SELECT day, ${ESTATE_SHARD_SQL('device_id')}, kind, planned, sum(n) FROM event_counts GROUP BY 1, 2, 3, 4`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE event_counts_estate`);
    await q.query(`DROP TABLE event_counts`);
  }
}
