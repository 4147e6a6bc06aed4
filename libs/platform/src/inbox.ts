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
