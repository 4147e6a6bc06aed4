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
  /**
   * Another process under this name: the one this one took the name from while it was online
   * (`replaced`, judged 30 s on: gone without a word, a `worker-restarted`, or still speaking), one
   * speaking beside it (`conflict`, a `worker-name-conflict`; over once silent for the offline
   * threshold), or one that said it stopped (`stopped`); its start, and when it was last heard.
   */
  @Column({ name: 'other_started_at', type: 'timestamptz', nullable: true }) otherStartedAt!: Date | null;
  @Column({ name: 'other_seen_at', type: 'timestamptz', nullable: true }) otherSeenAt!: Date | null;
  @Column({ name: 'other_state', type: 'text', nullable: true }) otherState!: 'replaced' | 'conflict' | 'stopped' | null;
  /** Restarts without a word (crashes, kills) not yet reported, and when the last `worker-restarted` event was (at most one in 15 minutes). */
  @Column({ type: 'integer', default: 0 }) restarts!: number;
  @Column({ name: 'restart_reported_at', type: 'timestamptz', nullable: true }) restartReportedAt!: Date | null;
}
