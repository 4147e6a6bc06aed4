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
export async function markSent(db: Pick<DataSource, 'query'>, { events = [], uploadIds = [] }: Sent): Promise<void> {
  const params: unknown[] = [];
  const p = (value: unknown) => `$${params.push(value)}`;
  const updates: string[] = [];
  if (events.length) {
    // occurred_at bounds the scan to the partitions (and index ranges) the events can be in.
    const since = new Date(events.reduce((min, e) => Math.min(min, new Date(e.occurredAt).getTime()), Infinity));
    updates.push(`UPDATE events SET announced_at = now() WHERE occurred_at >= ${p(since)} AND id = ANY(${p(events.map((e) => e.id))})`);
  }
  if (uploadIds.length) updates.push(`UPDATE agent_uploads SET published_at = now() WHERE id = ANY(${p(uploadIds)})`);
  if (!updates.length) return;
  const [main, ...others] = updates.reverse();
  await db.query(others.length ? `WITH ${others.map((u, i) => `m${i} AS (${u})`).join(', ')} ${main}` : main, params);
}
