import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A rule as stored: every field left out (null) matches anything. */
export interface PlannedRuleRecord {
  trackerId: string | null;
  itemType: string | null;
  kinds: ('added' | 'removed' | 'modified')[] | null;
  keyPattern: string | null;
}

/** A window in which changes within a scope that match its rules are planned, once approved. */
@Entity({ name: 'planned_changes' })
export class PlannedChangeEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text', nullable: true }) description!: string | null;
  @Column({ type: 'text' }) status!: 'draft' | 'approved';
  @Column({ type: 'text' }) mode!: 'rules' | 'recording';
  @Column({ name: 'window_start', type: 'timestamptz' }) windowStart!: Date;
  @Column({ name: 'window_end', type: 'timestamptz', nullable: true }) windowEnd!: Date | null;
  @Column({ name: 'device_ids', type: 'uuid', array: true }) deviceIds!: string[];
  @Column({ name: 'group_ids', type: 'uuid', array: true }) groupIds!: string[];
  @Column({ type: 'jsonb' }) rules!: PlannedRuleRecord[];
  @Column({ name: 'created_by', type: 'text' }) createdBy!: string;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  @Column({ name: 'approved_by', type: 'text', nullable: true }) approvedBy!: string | null;
  @Column({ name: 'approved_at', type: 'timestamptz', nullable: true }) approvedAt!: Date | null;
}

/** A rule that recording mode proposes from a change it saw, until an operator confirms it. */
@Entity({ name: 'planned_change_proposals' })
export class PlannedChangeProposalEntity {
  @PrimaryColumn({ name: 'planned_change_id', type: 'uuid' }) plannedChangeId!: string;
  @PrimaryColumn({ name: 'rule_key', type: 'text' }) ruleKey!: string;
  @Column({ type: 'jsonb' }) rule!: PlannedRuleRecord;
  @Column({ name: 'first_event_id', type: 'uuid' }) firstEventId!: string;
  @Column({ type: 'integer' }) seen!: number;
  @Column({ name: 'first_seen_at', type: 'timestamptz' }) firstSeenAt!: Date;
  @Column({ name: 'last_seen_at', type: 'timestamptz' }) lastSeenAt!: Date;
}
