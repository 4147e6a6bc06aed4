import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PlatformConfig } from '@portolan/config';
import { DATA_SOURCE, PLATFORM_CONFIG } from '@portolan/platform';

/**
 * One active scheduler among replicas: a row lease in Postgres that its holder renews on every
 * tick. Works the same on PGlite (where there is only ever one process).
 *
 * The holder is this process, not its instance name: two schedulers given one name (a copied
 * `PORTOLAN_INSTANCE`, or the default host name of two schedulers on one host)
 * would otherwise both renew one lease, and both lead.
 */
@Injectable()
export class LeaderLease {
  readonly holder: string;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(PLATFORM_CONFIG) platform: PlatformConfig,
  ) {
    this.holder = `${platform.instance}/${randomUUID().slice(0, 8)}`;
  }

  /** Takes or renews the lease; true while this process leads. */
  async acquire(name: string, ttlMs: number): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO leader_leases (name, holder, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
       WHERE leader_leases.holder = EXCLUDED.holder OR leader_leases.expires_at < now()
       RETURNING holder`,
      [name, this.holder, ttlMs],
    );
    return rows.length === 1;
  }

  async release(name: string): Promise<void> {
    await this.db.query('DELETE FROM leader_leases WHERE name = $1 AND holder = $2', [name, this.holder]);
  }
}
