import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { DeviceHostKeyEntity } from '@portolan/persistence';
import { DATA_SOURCE } from './tokens';

export interface PinnedHostKey {
  readonly algorithm: string;
  readonly fingerprint: string;
}

/**
 * SSH host keys pinned per device. The first key a device presents is pinned (trust on first
 * use); a different key later is kept apart as pending, and the device is refused until an
 * operator accepts it (`accept`), which makes the pending key the pinned one.
 */
@Injectable()
export class HostKeyStore {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  async pinned(deviceId: string): Promise<PinnedHostKey | undefined> {
    const row = await this.db.getRepository(DeviceHostKeyEntity).findOneBy({ deviceId });
    return row ? { algorithm: row.algorithm, fingerprint: row.fingerprint } : undefined;
  }

  async get(deviceId: string): Promise<DeviceHostKeyEntity | null> {
    return this.db.getRepository(DeviceHostKeyEntity).findOneBy({ deviceId });
  }

  /** Pins the key of a first contact; a key pinned meanwhile (another collector) stays. */
  async pinFirst(deviceId: string, key: PinnedHostKey, at: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO device_host_keys (device_id, algorithm, fingerprint, first_seen_at, accepted_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (device_id) DO NOTHING`,
      [deviceId, key.algorithm, key.fingerprint, at],
    );
  }

  async recordMismatch(deviceId: string, presented: PinnedHostKey, at: Date): Promise<void> {
    await this.db.query(`UPDATE device_host_keys SET pending_algorithm = $2, pending_fingerprint = $3, pending_seen_at = $4 WHERE device_id = $1`, [deviceId, presented.algorithm, presented.fingerprint, at]);
  }

  /** The operator accepts the pending key (optionally only if it is the fingerprint they checked). */
  async accept(deviceId: string, fingerprint?: string): Promise<DeviceHostKeyEntity> {
    return this.db.transaction(async (manager) => {
      const row = await manager.findOne(DeviceHostKeyEntity, { where: { deviceId }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw new DomainError('not_found', `device ${deviceId} has no pinned SSH host key`);
      if (!row.pendingFingerprint) throw new DomainError('conflict', `device ${deviceId} has no new host key waiting; the pinned one is ${row.fingerprint}`);
      if (fingerprint && fingerprint !== row.pendingFingerprint) {
        throw new DomainError('conflict', `the waiting host key is ${row.pendingFingerprint}, not ${fingerprint}; nothing accepted`, { field: 'fingerprint' });
      }
      const accepted = { algorithm: row.pendingAlgorithm ?? row.algorithm, fingerprint: row.pendingFingerprint, acceptedAt: new Date(), pendingAlgorithm: null, pendingFingerprint: null, pendingSeenAt: null };
      await manager.update(DeviceHostKeyEntity, { deviceId }, accepted);
      return { ...row, ...accepted };
    });
  }
}
