import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';

/**
 * An enrolled agent and its host device, written straight into a migrated test database (for
 * tests of what serves agents, without enrolling through the API). `secretHash` is the stored
 * hash of its secret; a placeholder byte when the test never authenticates it.
 */
export async function insertTestAgent(db: Pick<DataSource, 'query'>, secretHash: Buffer = Buffer.from([0])): Promise<{ agentId: string; deviceId: string }> {
  const [{ id: deviceId }]: { id: string }[] = await db.query(
    `INSERT INTO devices (name, kind, address, normalized_address, host_count) VALUES ('h', 'host', '127.0.0.1', '127.0.0.1', 1) RETURNING id`,
  );
  const agentId = randomUUID();
  await db.query(
    `INSERT INTO agents (id, name, hostname, os_platform, os_release, version, device_id, scanner, secret_hash, status, enrolled_at)
     VALUES ($1, 'h', 'h', 'linux', '6', '0.1.0', $2, false, $3, 'online', now())`,
    [agentId, deviceId, secretHash],
  );
  return { agentId, deviceId };
}
