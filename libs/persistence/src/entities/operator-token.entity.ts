import { Column, Entity, PrimaryColumn } from 'typeorm';

export type OperatorRole = 'admin' | 'viewer';

/**
 * A bearer token of the operator API (people, consoles, SIEM pulls, automation). The hub keeps
 * only its SHA-256; the token is shown once, when it is created.
 */
@Entity({ name: 'operator_tokens' })
export class OperatorTokenEntity {
  @PrimaryColumn('uuid') id!: string;
  /** Who or what holds it ("alice", "splunk-pull"): the actor of what it does. */
  @Column({ type: 'text' }) name!: string;
  /** `admin` may do everything; `viewer` may only read (GET). */
  @Column({ type: 'text' }) role!: OperatorRole;
  @Column({ name: 'token_hash', type: 'bytea', select: false }) tokenHash!: Buffer;
  /** The first characters of the token, to tell tokens apart in lists. */
  @Column({ name: 'token_hint', type: 'text' }) tokenHint!: string;
  @Column({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
  /** The token that created it, or `bootstrap` for the hub's first admin token. */
  @Column({ name: 'created_by', type: 'text' }) createdBy!: string;
  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true }) expiresAt!: Date | null;
  /** Updated at most once a minute a token, not on every call. */
  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true }) lastUsedAt!: Date | null;
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
  @Column({ name: 'revoked_by', type: 'text', nullable: true }) revokedBy!: string | null;
}
