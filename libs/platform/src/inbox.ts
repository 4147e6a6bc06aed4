import { EntityManager } from 'typeorm';

/**
 * Records that `consumer` applied message `messageId`, inside the caller's transaction.
 * Returns false when it already had: the caller then changes nothing and acks.
 */
export async function claimMessage(manager: EntityManager, messageId: string, consumer: string): Promise<boolean> {
  const rows: unknown[] = await manager.query(
    'INSERT INTO inbox (message_id, consumer, processed_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING RETURNING message_id',
    [messageId, consumer],
  );
  return rows.length === 1;
}

/** `claimMessage` for many messages in one statement; returns the ids claimed now (the others were applied already). */
export async function claimMessages(manager: EntityManager, messageIds: readonly string[], consumer: string): Promise<Set<string>> {
  if (!messageIds.length) return new Set();
  const rows: { message_id: string }[] = await manager.query(
    'INSERT INTO inbox (message_id, consumer, processed_at) SELECT id, $2, now() FROM unnest($1::uuid[]) AS id ORDER BY id ON CONFLICT DO NOTHING RETURNING message_id',
    [[...messageIds], consumer],
  );
  return new Set(rows.map((r) => r.message_id));
}
