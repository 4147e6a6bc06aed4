import { EntityManager } from 'typeorm';
import { DomainError } from '@portolan/contracts';

type Table = 'devices' | 'device_groups' | 'sites' | 'trackers' | 'alert_channels';

/**
 * Ids a request refers to that must exist: a 400 naming the field and the first one missing.
 * `forShare` (inside the caller's transaction) also keeps them from being deleted until it ends.
 */
export async function requireExisting(db: Pick<EntityManager, 'query'>, table: Table, ids: readonly string[], field: string, options: { forShare?: boolean } = {}): Promise<void> {
  if (!ids.length) return;
  const rows: { id: string }[] = await db.query(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])${options.forShare ? ' ORDER BY id FOR SHARE' : ''}`, [ids]);
  const found = new Set(rows.map((r) => r.id));
  const absent = ids.filter((id) => !found.has(id));
  if (absent.length) throw new DomainError('invalid_payload', `${field}: ${absent[0]} does not exist${absent.length > 1 ? ` (and ${absent.length - 1} more)` : ''}`, { field, missing: absent.slice(0, 10) });
}

/** The one id of a query filter (a group, a site): an unknown one is a mistake to name, not an empty answer. */
export async function requireFilterTarget(db: Pick<EntityManager, 'query'>, table: Table, id: string | undefined, field: string): Promise<void> {
  if (!id) return;
  const rows: unknown[] = await db.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
  if (!rows.length) throw new DomainError('invalid_payload', `${field} ${id} does not exist`, { field });
}
