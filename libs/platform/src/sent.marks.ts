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
 */
export async function markSent(db: Pick<DataSource, 'query'>, sent: Sent): Promise<void> {
  const params: unknown[] = [];
  const updates = sentUpdates(sent, params);
  if (!updates.length) return;
  const [main, ...others] = updates.reverse();
  await db.query(others.length ? `WITH ${others.map((u, i) => `m${i} AS (${u})`).join(', ')} ${main}` : main, params);
}

function sentUpdates({ events = [], uploadIds = [] }: Sent, params: unknown[]): string[] {
  const p = (value: unknown) => `$${params.push(value)}`;
  const updates: string[] = [];
  if (events.length) {
    // occurred_at bounds the scan to the partitions (and index ranges) the events can be in.
    const since = new Date(events.reduce((min, e) => Math.min(min, new Date(e.occurredAt).getTime()), Infinity));
    updates.push(`UPDATE events SET announced_at = now() WHERE occurred_at >= ${p(since)} AND id = ANY(${p(events.map((e) => e.id))})`);
  }
  if (uploadIds.length) updates.push(`UPDATE agent_uploads SET published_at = now() WHERE id = ANY(${p(uploadIds)})`);
  return updates;
}

/** How long marks wait for others to be written with them. */
const COALESCE_MS = 200;
/** Marks written at once when this many are waiting, whatever the time. */
const MAX_PENDING = 5_000;

/**
 * Sent marks of a group-committing writer, written together every `COALESCE_MS` instead of one
 * statement after every batch's publish: at ingest rates a few statements a second instead of one
 * a batch, in the background as before (never inside a batch's transaction, where the row locks
 * of the comparer applying the same uploads would hold the batch back). Marks that wait a little
 * change nothing: the leader's sweeps send again only what stayed unmarked for 10 s or more. A
 * failed write is reported and left to those sweeps.
 */
export class PendingSentMarks {
  private events: NonNullable<Sent['events']>[number][] = [];
  private uploadIds: string[] = [];
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
    this.writing = this.writing.then(() => (sent.events?.length || sent.uploadIds?.length ? markSent(this.db, sent).catch((error: unknown) => this.onError(error)) : undefined));
    return this.writing;
  }
}
