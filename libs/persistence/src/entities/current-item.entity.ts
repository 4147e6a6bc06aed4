import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** The accepted (baseline) state of one item of one host, as moved by complete observations. */
@Entity({ name: 'current_items' })
@Index('current_items_device_idx', ['deviceId', 'host', 'itemType', 'itemKey'])
export class CurrentItemEntity {
  @PrimaryColumn({ name: 'tracker_id', type: 'uuid' }) trackerId!: string;
  @PrimaryColumn({ type: 'text' }) host!: string;
  @PrimaryColumn({ name: 'item_type', type: 'text' }) itemType!: string;
  @PrimaryColumn({ name: 'item_key', type: 'text' }) itemKey!: string;
  @Column({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ type: 'jsonb' }) attributes!: Record<string, string | number | boolean | null>;
  @Column({ name: 'first_seen_at', type: 'timestamptz' }) firstSeenAt!: Date;
  @Column({ name: 'last_seen_at', type: 'timestamptz' }) lastSeenAt!: Date;
  @Column({ name: 'last_job_id', type: 'uuid' }) lastJobId!: string;
}
