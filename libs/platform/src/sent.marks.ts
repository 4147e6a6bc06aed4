import type { DataSource } from 'typeorm';

/** What the stream acknowledged: events announced, agent uploads published. */
export interface Sent {
  readonly events?: readonly { readonly id: string; readonly occurredAt: Date | string }[];
  readonly uploadIds?: readonly string[];
}

/**
 * Records, in one statement, that events were announced and agent uploads published (after the
 * stream acknowledged them), so the leader's sweeps leave them alone. A writer that sent both
 * (an upload batch and its `scan-started` events) pays one round trip for them.
 *
 * A mark never waits for a row another transaction holds: the comparer applying the same uploads
 * locks them in its own order (a tracker's in upload order), and a mark waiting on one of them
 * while holding others deadlocked with it (seen in the agent API e2e, a burst of one tracker's
 * uploads). Rows locked at that moment are skipped and answered, for the caller to mark later.
 */
export async function markSent(db: Pick<DataSource, 'query'>, sent: Sent): Promise<Required<Sent>> {
  const { events = [], uploadIds = [] } = sent;
  if (!events.length && !uploadIds.length) return { events: [], uploadIds: [] };
  const { sql, params } = sentMarksStatement(events, uploadIds);
  const [row]: { events: string[]; uploads: string[] }[] = await db.query(sql, params);
  const marked = { events: new Set(row?.events ?? []), uploads: new Set(row?.uploads ?? []) };
  return { events: events.filter((e) => !marked.events.has(e.id)), uploadIds: uploadIds.filter((id) => !marked.uploads.has(id)) };
}

/**
 * The statement `markSent` runs (parameters: event ids, their times, upload ids). Each event is
 * found by its own key, `(occurred_at, id)`: the primary key's scan starts at the key given and
 * stops a millisecond later (a time read back into JavaScript has lost its microseconds, never
 * gained any: events are written from JavaScript times). So a mark costs the same however many
 * events the table holds, however old they are, and however many share their time (a
 * comparison's events, agents marked offline together).
 *
 * Before, one range was scanned from the oldest event's time on: a result an agent spooled for
 * hours took each mark hours back, and a partition without statistics was read through. The plan
 * does not hang on statistics, which a month's partition lacks until it is first analysed:
 * `LIMIT 1` (an id is unique) keeps each lookup's estimate at a row, and the UPDATE reads its rows
 * by their times (`= ANY` on the primary key); without them the planner joined the lookups with
 * the whole partition.
 */
export function sentMarksStatement(events: NonNullable<Sent['events']>, uploadIds: readonly string[]): { sql: string; params: unknown[] } {
  return {
    sql: `WITH le AS (SELECT l.id, l.occurred_at FROM unnest($1::uuid[], $2::timestamptz[]) AS k(id, at)
                        CROSS JOIN LATERAL (SELECT x.id, x.occurred_at FROM events x
                                             WHERE (x.occurred_at, x.id) >= (k.at, k.id) AND x.occurred_at < k.at + interval '1 millisecond' AND x.id = k.id
                                             LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED) l),
               e AS (UPDATE events ev SET announced_at = now() FROM le
                      WHERE ev.occurred_at = le.occurred_at AND ev.id = le.id AND ev.occurred_at = ANY (ARRAY(SELECT occurred_at FROM le)) RETURNING ev.id),
               u AS (UPDATE agent_uploads up SET published_at = now()
                       FROM (SELECT id FROM agent_uploads WHERE id = ANY($3::uuid[]) FOR NO KEY UPDATE SKIP LOCKED) l
                      WHERE up.id = l.id RETURNING up.id)
          SELECT (SELECT coalesce(array_agg(id), '{}') FROM e) AS events, (SELECT coalesce(array_agg(id), '{}') FROM u) AS uploads`,
    params: [events.map((e) => e.id), events.map((e) => new Date(e.occurredAt)), uploadIds],
  };
}

/** How long marks wait for others to be written with them. */
const COALESCE_MS = 200;
/** Marks written at once when this many are waiting, whatever the time. */
const MAX_PENDING = 5_000;
/** How many writes a mark whose row stays locked by others is tried in, before it is left to the leader's sweeps. */
const MAX_TRIES = 25;

/**
 * Sent marks of a group-committing writer, written together every `COALESCE_MS` instead of one
 * statement after every batch's publish: at ingest rates a few statements a second instead of one
 * a batch, in the background as before (never inside a batch's transaction, where the row locks
 * of the comparer applying the same uploads would hold the batch back). Marks that wait a little
 * change nothing: the leader's sweeps send again only what stayed unmarked for 10 s or more. A
 * failed write is reported and left to those sweeps; marks whose rows were locked (`markSent`)
 * go again with the next write, `MAX_TRIES` writes at most.
 */
export class PendingSentMarks {
  private events: NonNullable<Sent['events']>[number][] = [];
  private uploadIds: string[] = [];
  /** Writes tried so far, of the marks skipped for a row locked by another transaction. */
  private readonly tries = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Pick<DataSource, 'query'>,
    private readonly onError: (error: unknown) => void,
  ) {}

  get pending(): number {
    return this.events.length + this.uploadIds.length;
  }

  add({ events = [], uploadIds = [] }: Sent): void {
    if (!events.length && !uploadIds.length) return;
    this.events.push(...events);
    this.uploadIds.push(...uploadIds);
    if (this.pending >= MAX_PENDING) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), COALESCE_MS).unref();
  }

  /** Writes what is pending now (also at shutdown); resolves once it and any write before it are done. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const sent: Sent = { events: this.events, uploadIds: this.uploadIds };
    this.events = [];
    this.uploadIds = [];
    // One write at a time, in order.
    this.writing = this.writing.then(async () => {
      if (!sent.events?.length && !sent.uploadIds?.length) return;
      try {
        this.again(sent, await markSent(this.db, sent));
      } catch (error) {
        this.onError(error);
      }
    });
    return this.writing;
  }

  /** Marks skipped for a locked row wait for the next write; those tried `MAX_TRIES` times are left to the sweeps. */
  private again(sent: Sent, left: Required<Sent>): void {
    const leftIds = new Set([...left.events.map((e) => e.id), ...left.uploadIds]);
    for (const id of [...(sent.events ?? []).map((e) => e.id), ...(sent.uploadIds ?? [])]) if (!leftIds.has(id)) this.tries.delete(id);
    const retry = (id: string) => {
      const tries = (this.tries.get(id) ?? 0) + 1;
      if (tries >= MAX_TRIES) return false;
      this.tries.set(id, tries);
      return true;
    };
    const events = left.events.filter((e) => retry(e.id));
    const uploadIds = left.uploadIds.filter(retry);
    const given = left.events.length + left.uploadIds.length - events.length - uploadIds.length;
    if (given) this.onError(new Error(`${given} sent marks found their rows locked ${MAX_TRIES} times; the leader's sweeps will send them again`));
    this.add({ events, uploadIds });
  }
}
