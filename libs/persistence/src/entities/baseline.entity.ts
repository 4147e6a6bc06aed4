import { Column, Entity, PrimaryColumn } from 'typeorm';

export interface BaselineCoverageRecord {
  ports: { tcp: { from: number; to: number }[]; udp: { from: number; to: number }[] };
  itemTypes: string[];
}

/** A host of a tracker has a baseline once its first complete poll was applied. */
@Entity({ name: 'baselines' })
export class BaselineEntity {
  @PrimaryColumn({ name: 'tracker_id', type: 'uuid' }) trackerId!: string;
  @PrimaryColumn({ type: 'text' }) host!: string;
  @Column({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ name: 'baselined_at', type: 'timestamptz' }) baselinedAt!: Date;
  /** When the observation last applied to this host was made; older results are stale. */
  @Column({ name: 'observed_at', type: 'timestamptz' }) observedAt!: Date;
  @Column({ name: 'last_job_id', type: 'uuid' }) lastJobId!: string;
  /** What the baseline was made over (ports, item types); null for baselines older than this record. */
  @Column({ type: 'jsonb', nullable: true }) coverage!: BaselineCoverageRecord | null;
}
