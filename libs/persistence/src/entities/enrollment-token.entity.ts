import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Places a newly enrolled device in `group` when `field` matches `pattern` (a regex). */
export interface GroupRuleRecord {
  field: 'hostname' | 'os';
  pattern: string;
  group: string;
}

/** A token agents exchange for their identity. The hub keeps only its SHA-256. */
@Entity({ name: 'enrollment_tokens' })
export class EnrollmentTokenEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ name: 'token_hash', type: 'bytea', select: false }) tokenHash!: Buffer;
  /** The first characters of the token, to tell tokens apart in lists. */
  @Column({ name: 'token_hint', type: 'text' }) tokenHint!: string;
  @Column({ name: 'site_id', type: 'uuid', nullable: true }) siteId!: string | null;
  @Column({ name: 'expires_at', type: 'timestamptz' }) expiresAt!: Date;
  @Column({ name: 'max_uses', type: 'integer' }) maxUses!: number;
  @Column({ type: 'integer', default: 0 }) uses!: number;
  @Column({ name: 'group_rules', type: 'jsonb' }) groupRules!: GroupRuleRecord[];
  /** Agents enrolled with this token may run nmap for remote and network scans. */
  @Column({ type: 'boolean' }) scanner!: boolean;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
}
