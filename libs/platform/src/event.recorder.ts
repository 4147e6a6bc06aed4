import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { Bus } from '@portolan/bus';
import { EventRecorded, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { EventEntity, EventKindRecord } from '@portolan/persistence';
import { markSent } from './sent.marks';
import { settleInWindows } from './settle-in-windows';
import { BUS, DATA_SOURCE, LOGGER } from './tokens';

/** Events per INSERT statement. */
const INSERT_ROWS = 2_000;
/** Events not announced this long after they occurred are announced again by the leader. */
const ANNOUNCE_GRACE_MS = 30_000;

export interface NewEvent {
  readonly kind: EventKindRecord;
  /** Null for events of the hub itself (an alert channel degraded). */
  readonly deviceId: string | null;
  readonly trackerId: string | null;
  readonly jobId: string | null;
  readonly host?: string | null;
  readonly itemType?: string | null;
  readonly itemKey?: string | null;
  readonly before?: Record<string, unknown> | null;
  readonly after?: Record<string, unknown> | null;
  readonly details?: Record<string, unknown> | null;
  readonly occurredAt: Date;
  /** Change events: when the change was observed. */
  readonly observedAt?: Date | null;
  /** Set by the comparer's classification: the planned change the event falls under. */
  readonly plannedChangeId?: string | null;
}

/** A communications event about an agent, on its device: `details.what`, the agent's id and name, and the rest of `details`. */
export function agentEvent(agent: { readonly id: string; readonly name: string; readonly deviceId: string }, occurredAt: Date, what: string, details: Record<string, unknown> = {}): NewEvent {
  return { kind: 'communications', deviceId: agent.deviceId, trackerId: null, jobId: null, occurredAt, details: { what, agentId: agent.id, agent: agent.name, ...details } };
}

/**
 * Writes events inside the caller's transaction and, once that committed, announces them on
 * the events stream for alerting, recording when it did. Events whose announcement was lost
 * (a crash after commit, the bus down) are announced again by `announceUnannounced`; the event
 * id is the message id, so the stream stores each once within its duplicate window.
 */
@Injectable()
export class EventRecorder {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  async insert(manager: EntityManager, events: readonly NewEvent[]): Promise<EventEntity[]> {
    const rows = events.map(toRow);
    // One statement per few thousand events, rows as one JSON document: no per-row SQL to build.
    // The last one also adds the counts of them all (one round trip fewer for every writer).
    for (let i = 0; i < rows.length; i += INSERT_ROWS) {
      const chunk = rows.slice(i, i + INSERT_ROWS);
      if (i + INSERT_ROWS < rows.length) await manager.query(insertSql(1, 'true'), [rowsJson(chunk)]);
      else {
        const tail = statementTail(chunk, rows);
        await manager.query(`WITH ${tail.sql(1, [])}`, tail.params);
      }
    }
    return rows;
  }

  /**
   * Whether the job's communications event `what` (with these `details`, if given) is written
   * already: for an event said once a job (or once a job and worker). Callers hold the job's lock,
   * so two never both find it missing. Only the partitions from a day before the job's request on
   * are read (the day: services' clocks may differ).
   */
  async saidOfJob(manager: EntityManager, job: { readonly id: string; readonly requestedAt: Date }, what: string, details: Readonly<Record<string, string>> = {}): Promise<boolean> {
    const rows: unknown[] = await manager.query(
      `SELECT 1 FROM events WHERE job_id = $1 AND occurred_at >= $2::timestamptz - interval '1 day' AND kind = 'communications' AND details @> $3::jsonb LIMIT 1`,
      [job.id, job.requestedAt, JSON.stringify({ ...details, what })],
    );
    return rows.length > 0;
  }

  /**
   * For a writer whose own statement is a `WITH`: the events (at most a few thousand) as the end
   * of it, their INSERT and their counts, so that they cost no round trip of their own (the
   * agent ingests write a batch's `scan-started` events so). The statement is
   * `WITH <the writer's CTEs>, ${sql(first, after)}`, the writer's parameters followed by
   * `params`, numbered from `first`. Its rows are what `insert` would have returned.
   *
   * `after` names the writer's CTEs (each with a `RETURNING`): the events and counts are written
   * only once every row those return has been read, i.e. after the writer's own writes. Without it
   * Postgres may run the counts' upsert (the statement's main query) first, and a writer would
   * hold a count row while it waits on another's job or upload: a lock cycle with any writer
   * that takes them in the usual order (rows first, counts last). The foreign-key checks of the
   * writer's rows run at the very end, after the counts: the rows they lock (a job's tracker)
   * should be locked before, as the agent ingests do when they read their batch.
   */
  prepare(events: readonly NewEvent[]): PreparedEvents {
    if (!events.length || events.length > INSERT_ROWS) throw new Error(`prepare takes 1 to ${INSERT_ROWS} events, not ${events.length}`);
    const rows = events.map(toRow);
    return { rows, ...statementTail(rows, rows) };
  }

  /**
   * Call after commit. A lost announcement never loses the event: it is in the database. The
   * events go out many in flight at once (one connection keeps them in order); those the stream
   * acknowledged are marked announced, the rest are announced again later.
   */
  async announce(rows: readonly EventEntity[]): Promise<void> {
    await markSent(this.db, { events: await this.publish(rows) });
  }

  /**
   * Publishes events on the stream without marking them; answers those the stream acknowledged,
   * for the caller to mark (`markSent`) with whatever else it sent.
   */
  async publish(rows: readonly EventEntity[]): Promise<EventEntity[]> {
    if (!rows.length) return [];
    const outcomes = await settleInWindows(rows, (row) => {
      const payload: EventRecorded = {
        eventId: row.id,
        kind: row.kind,
        deviceId: row.deviceId,
        trackerId: row.trackerId,
        jobId: row.jobId,
        host: row.host,
        itemType: row.itemType,
        itemKey: row.itemKey,
        before: row.before,
        after: row.after,
        planned: row.planned,
        plannedChangeId: row.plannedChangeId ?? null,
        details: row.details,
        occurredAt: new Date(row.occurredAt).toISOString(),
      };
      return this.bus.publish(Messages.eventRecorded, payload, { messageId: row.id, correlationId: row.jobId ?? undefined });
    });
    const announced = rows.filter((_, i) => outcomes[i].status === 'fulfilled');
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) this.logger.warn({ unannounced: rows.length - announced.length, err: String(failed.reason) }, 'could not announce events on the bus; will retry');
    return announced;
  }

  /** Announces events whose announcement was lost, oldest first. */
  async announceUnannounced(now: Date): Promise<number> {
    const rows = await this.db
      .getRepository(EventEntity)
      .createQueryBuilder('e')
      .where('e.announced_at IS NULL AND e.occurred_at < :before', { before: new Date(now.getTime() - ANNOUNCE_GRACE_MS) })
      .orderBy('e.occurred_at', 'ASC')
      .take(500)
      .getMany();
    await this.announce(rows);
    if (rows.length) this.logger.info({ events: rows.length }, 'announced events whose announcement had been lost');
    return rows.length;
  }
}

/** Events written as the end of a caller's statement (`EventRecorder.prepare`). */
export interface PreparedEvents {
  readonly rows: EventEntity[];
  /** `inserted_events AS (INSERT ...), <the counts>`: the last CTEs and the statement's main INSERT, written after the CTEs named in `after`. */
  sql(first: number, after: readonly string[]): string;
  readonly params: readonly string[];
}

function toRow(e: NewEvent): EventEntity {
  return Object.assign(new EventEntity(), {
    id: randomUUID(),
    occurredAt: e.occurredAt,
    kind: e.kind,
    deviceId: e.deviceId,
    trackerId: e.trackerId,
    jobId: e.jobId,
    host: e.host ?? null,
    itemType: e.itemType ?? null,
    itemKey: e.itemKey ?? null,
    before: e.before ?? null,
    after: e.after ?? null,
    planned: Boolean(e.plannedChangeId),
    plannedChangeId: e.plannedChangeId ?? null,
    observedAt: e.observedAt ?? null,
    details: e.details ?? null,
    announcedAt: null,
  });
}

function insertSql(param: number, where: string): string {
  return `INSERT INTO events (id, occurred_at, kind, device_id, tracker_id, job_id, host, item_type, item_key, before, after, planned, planned_change_id, observed_at, details)
     SELECT id, occurred_at, kind, device_id, tracker_id, job_id, host, item_type, item_key, before, after, planned, planned_change_id, observed_at, details
       FROM jsonb_to_recordset($${param}::jsonb) AS e(id uuid, occurred_at timestamptz, kind text, device_id uuid, tracker_id uuid, job_id uuid, host text,
            item_type text, item_key text, before jsonb, after jsonb, planned boolean, planned_change_id uuid, observed_at timestamptz, details jsonb)
      WHERE ${where}`;
}

function rowsJson(rows: readonly EventEntity[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      occurred_at: r.occurredAt,
      kind: r.kind,
      device_id: r.deviceId,
      tracker_id: r.trackerId,
      job_id: r.jobId,
      host: r.host,
      item_type: r.itemType,
      item_key: r.itemKey,
      before: r.before,
      after: r.after,
      planned: r.planned,
      planned_change_id: r.plannedChangeId,
      observed_at: r.observedAt,
      details: r.details,
    })),
  );
}

/** `rows` inserted and `counted` (every event of the write, rows among them) counted, as the end of a `WITH` statement. */
function statementTail(rows: readonly EventEntity[], counted: readonly EventEntity[]): { sql: (first: number, after: readonly string[]) => string; params: string[] } {
  const counts = countsStatement(counted.map((r) => ({ day: r.occurredAt, deviceId: r.deviceId, kind: r.kind, planned: r.planned, n: 1 })));
  // Every event counts one: there is always something to count.
  if (!counts) throw new Error('no event counts to write');
  return {
    sql: (first, after) => {
      // A condition that reads every row of those CTEs: rows are written only once they have run.
      const gate = after.length ? `${after.map((cte) => `(SELECT count(*) FROM ${cte})`).join(' + ')} >= 0` : 'true';
      return `inserted_events AS (${insertSql(first, gate)}), ${counts.sql(first + 1, gate)}`;
    },
    params: [rowsJson(rows), ...counts.params],
  };
}

/**
 * Adds to (or, with a negative n, takes from) the per-day event counts, in the caller's
 * transaction. Rows are summed per key first and written in key order, so concurrent writers
 * of the same days never wait on each other in a cycle. Events of no device (the hub's own)
 * are counted estate-wide only, in shard 0.
 */
export async function countEvents(manager: Pick<EntityManager, 'query'>, deltas: readonly { day: Date; deviceId: string | null; kind: string; planned: boolean; n: number }[]): Promise<void> {
  const counts = countsStatement(deltas);
  if (counts) await manager.query(`WITH ${counts.sql(1, 'true')}`, counts.params);
}

/**
 * The counts' upserts as the tail of a statement (`WITH ... , <sql>`), both tables in one: its
 * two parameters numbered from `first`, each upsert's rows only where `where` holds. Undefined
 * when nothing is to be counted. Every writer
 * goes through here, so all take their row locks in the same order.
 */
function countsStatement(deltas: readonly { day: Date; deviceId: string | null; kind: string; planned: boolean; n: number }[]): { sql: (first: number, where: string) => string; params: [string, string] } | undefined {
  if (!deltas.length) return undefined;
  const sums = new Map<string, { day: string; device_id: string | null; kind: string; planned: boolean; n: number }>();
  for (const d of deltas) {
    const day = new Date(d.day).toISOString().slice(0, 10);
    const key = `${day} ${d.deviceId} ${d.kind} ${d.planned}`;
    const sum = sums.get(key);
    if (sum) sum.n += d.n;
    else sums.set(key, { day, device_id: d.deviceId, kind: d.kind, planned: d.planned, n: d.n });
  }
  const rows = [...sums.entries()].filter(([, v]) => v.n !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  if (!rows.length) return undefined;
  const perDevice = rows.filter((r) => r.device_id !== null);
  const estate = new Map<string, { day: string; shard: number; kind: string; planned: boolean; n: number }>();
  for (const r of rows) {
    const shard = r.device_id === null ? 0 : parseInt(r.device_id.slice(-1), 16);
    const key = `${r.day} ${r.kind} ${r.planned} ${String(shard).padStart(2, '0')}`;
    const sum = estate.get(key);
    if (sum) sum.n += r.n;
    else estate.set(key, { day: r.day, shard, kind: r.kind, planned: r.planned, n: r.n });
  }
  return {
    sql: (first, where) => `per_device AS (
       INSERT INTO event_counts (day, device_id, kind, planned, n)
       SELECT v.day, v.device_id, v.kind, v.planned, v.n FROM jsonb_to_recordset($${first}::jsonb) AS v(day date, device_id uuid, kind text, planned boolean, n bigint)
        WHERE ${where}
       ON CONFLICT (day, device_id, kind, planned) DO UPDATE SET n = event_counts.n + EXCLUDED.n
     )
     INSERT INTO event_counts_estate (day, shard, kind, planned, n)
     SELECT v.day, v.shard, v.kind, v.planned, v.n FROM jsonb_to_recordset($${first + 1}::jsonb) AS v(day date, shard smallint, kind text, planned boolean, n bigint)
      WHERE ${where}
     ON CONFLICT (day, kind, planned, shard) DO UPDATE SET n = event_counts_estate.n + EXCLUDED.n`,
    params: [JSON.stringify(perDevice), JSON.stringify([...estate.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v))],
  };
}
