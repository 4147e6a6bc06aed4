import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type WorkerStatus = 'online' | 'offline' | 'stopped';

/**
 * A scanner worker or collector as its presence messages describe it (`Messages.workerPresence`):
 * `online` while it speaks, `offline` once silent past the scheduler's threshold (a
 * `worker-offline` event), `stopped` when it said it was stopping.
 */
@Entity({ name: 'workers' })
@Index('workers_site_idx', ['site', 'kind'])
export class WorkerEntity {
  @PrimaryColumn({ type: 'text' }) kind!: 'scanner' | 'collector';
  @PrimaryColumn({ type: 'text' }) name!: string;
  /** `*`: every site's. */
  @Column({ type: 'text' }) site!: string;
  @Column({ type: 'text' }) version!: string;
  @Column({ type: 'jsonb', default: () => "'[]'" }) features!: string[];
  @Column({ type: 'integer' }) concurrency!: number;
  @Column({ type: 'integer', default: 0 }) busy!: number;
  @Column({ name: 'started_at', type: 'timestamptz' }) startedAt!: Date;
  @Column({ name: 'first_seen_at', type: 'timestamptz' }) firstSeenAt!: Date;
  @Column({ name: 'last_seen_at', type: 'timestamptz' }) lastSeenAt!: Date;
  @Column({ type: 'text' }) status!: WorkerStatus;
}
