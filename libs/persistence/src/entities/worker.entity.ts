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
  /** When the hub first heard the process started at `startedAt`: the name's process until another replaces it. */
  @Column({ name: 'started_seen_at', type: 'timestamptz' }) startedSeenAt!: Date;
  /** The process this one replaced while it was online, until judged 30 s on: gone without a word (`worker-restarted`), or still speaking (a conflict). */
  @Column({ name: 'replaced_started_at', type: 'timestamptz', nullable: true }) replacedStartedAt!: Date | null;
  @Column({ name: 'replaced_seen_at', type: 'timestamptz', nullable: true }) replacedSeenAt!: Date | null;
  /** Another process speaking under this name (`worker-name-conflict`): its start, and when it was last heard; cleared once it is silent for the offline threshold. */
  @Column({ name: 'conflict_started_at', type: 'timestamptz', nullable: true }) conflictStartedAt!: Date | null;
  @Column({ name: 'conflict_seen_at', type: 'timestamptz', nullable: true }) conflictSeenAt!: Date | null;
  /** Restarts without a word (crashes, kills) not yet reported, and when the last `worker-restarted` event was (at most one in 15 minutes). */
  @Column({ type: 'integer', default: 0 }) restarts!: number;
  @Column({ name: 'restart_reported_at', type: 'timestamptz', nullable: true }) restartReportedAt!: Date | null;
}
