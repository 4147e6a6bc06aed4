import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export type DeviceKind = 'network' | 'host';

@Entity({ name: 'devices' })
export class DeviceEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) kind!: DeviceKind;
  /** The target spec as the operator wrote it. */
  @Column({ type: 'text' }) address!: string;
  /** The canonical form of `address` (parsed, merged ranges). */
  @Column({ name: 'normalized_address', type: 'text' }) normalizedAddress!: string;
  @Column({ name: 'host_count', type: 'integer' }) hostCount!: number;
  @Index() @Column({ name: 'site_id', type: 'uuid', nullable: true }) siteId!: string | null;
  @Column({ name: 'credential_id', type: 'uuid', nullable: true }) credentialId!: string | null;
  /** Overrides its trackers' "send baseline events" when set. */
  @Column({ name: 'send_baseline_events', type: 'boolean', nullable: true }) sendBaselineEvents!: boolean | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
