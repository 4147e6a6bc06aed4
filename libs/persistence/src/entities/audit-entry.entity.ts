import { Column, Entity, PrimaryColumn } from 'typeorm';

/** What an operator did to a planned change or a baseline, when, and why. */
@Entity({ name: 'audit_log' })
export class AuditEntryEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'timestamptz' }) at!: Date;
  @Column({ type: 'text' }) actor!: string;
  @Column({ type: 'text' }) action!: string;
  @Column({ name: 'subject_type', type: 'text' }) subjectType!: string;
  @Column({ name: 'subject_id', type: 'uuid' }) subjectId!: string;
  @Column({ type: 'text', nullable: true }) justification!: string | null;
  @Column({ type: 'jsonb', nullable: true }) details!: Record<string, unknown> | null;
  /** The operator token the call was made with (null for the hub's own entries). */
  @Column({ name: 'caller_token_id', type: 'uuid', nullable: true }) callerTokenId!: string | null;
  @Column({ name: 'caller_name', type: 'text', nullable: true }) callerName!: string | null;
}
