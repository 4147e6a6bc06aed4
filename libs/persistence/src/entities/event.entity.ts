import { Column, Entity, PrimaryColumn } from 'typeorm';

export type EventKindRecord = 'added' | 'removed' | 'modified' | 'baseline' | 'communications' | 'flapping-started' | 'flapping-stopped';

/** Change and communications events; the table is partitioned by `occurred_at`. */
@Entity({ name: 'events' })
export class EventEntity {
  @PrimaryColumn('uuid') id!: string;
  @PrimaryColumn({ name: 'occurred_at', type: 'timestamptz' }) occurredAt!: Date;
  @Column({ type: 'text' }) kind!: EventKindRecord;
  /** Null for events of the hub itself (an alert channel degraded). */
  @Column({ name: 'device_id', type: 'uuid', nullable: true }) deviceId!: string | null;
  @Column({ name: 'tracker_id', type: 'uuid', nullable: true }) trackerId!: string | null;
  @Column({ name: 'job_id', type: 'uuid', nullable: true }) jobId!: string | null;
  @Column({ type: 'text', nullable: true }) host!: string | null;
  @Column({ name: 'item_type', type: 'text', nullable: true }) itemType!: string | null;
  @Column({ name: 'item_key', type: 'text', nullable: true }) itemKey!: string | null;
  @Column({ type: 'jsonb', nullable: true }) before!: Record<string, unknown> | null;
  @Column({ type: 'jsonb', nullable: true }) after!: Record<string, unknown> | null;
  @Column({ type: 'boolean', default: false }) planned!: boolean;
  /** The planned change that classified this event, when planned. */
  @Column({ name: 'planned_change_id', type: 'uuid', nullable: true }) plannedChangeId!: string | null;
  /** Change events: when the change was observed (the scan's start); `occurredAt` is when it was recorded. */
  @Column({ name: 'observed_at', type: 'timestamptz', nullable: true }) observedAt!: Date | null;
  /** Communications details: what happened (scan finished, failed), duration, reason. */
  @Column({ type: 'jsonb', nullable: true }) details!: Record<string, unknown> | null;
  /** When the event was announced on the bus for alerting; null until then. */
  @Column({ name: 'announced_at', type: 'timestamptz', nullable: true }) announcedAt!: Date | null;
}
