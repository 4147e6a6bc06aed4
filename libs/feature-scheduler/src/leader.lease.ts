import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PlatformConfig } from '@portolan/config';
import { DATA_SOURCE, PLATFORM_CONFIG } from '@portolan/platform';

/**
 * One active scheduler among replicas: a row lease in Postgres that its holder renews on every
 * tick. Works the same on PGlite (where there is only ever one process).
 */
@Injectable()
export class LeaderLease {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(PLATFORM_CONFIG) private readonly platform: PlatformConfig,
  ) {}

  get holder(): string {
    return this.platform.instance;
  }

  /** Takes or renews the lease; true while this instance leads. */
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
