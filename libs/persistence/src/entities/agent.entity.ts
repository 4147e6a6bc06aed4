import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type AgentStatus = 'enrolled' | 'online' | 'offline' | 'revoked';

/** An enrolled agent. The hub keeps only the SHA-256 of its secret. */
@Entity({ name: 'agents' })
@Index('agents_liveness_idx', ['status', 'lastSeenAt'])
export class AgentEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) hostname!: string;
  @Column({ name: 'os_platform', type: 'text' }) osPlatform!: string;
  @Column({ name: 'os_release', type: 'text' }) osRelease!: string;
  @Column({ name: 'os_description', type: 'text', nullable: true }) osDescription!: string | null;
  @Column({ type: 'text' }) version!: string;
  @Column({ name: 'site_id', type: 'uuid', nullable: true }) siteId!: string | null;
  @Index({ unique: true }) @Column({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ name: 'token_id', type: 'uuid', nullable: true }) tokenId!: string | null;
  @Column({ type: 'boolean' }) scanner!: boolean;
  @Column({ name: 'secret_hash', type: 'bytea', select: false }) secretHash!: Buffer;
  @Column({ type: 'text' }) status!: AgentStatus;
  @Column({ name: 'boot_id', type: 'uuid', nullable: true }) bootId!: string | null;
  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true }) lastSeenAt!: Date | null;
  @Column({ name: 'spool_entries', type: 'integer', default: 0 }) spoolEntries!: number;
  @Column({ name: 'spool_dropped', type: 'integer', default: 0 }) spoolDropped!: number;
  @Column({ name: 'config_version', type: 'integer', default: 1 }) configVersion!: number;
  /** The configuration version the agent last reported it had applied (null before its first report). */
  @Column({ name: 'applied_config_version', type: 'integer', nullable: true }) appliedConfigVersion!: number | null;
  /** When the agent was last given a configuration that left a tracker of its out (a host name that did not resolve, an address outside the scope); null once it is asked to fetch it again. */
  @Column({ name: 'config_incomplete_at', type: 'timestamptz', nullable: true }) configIncompleteAt!: Date | null;
  /** What the agent program said it can do (`AgentFeatures`), at enrolment and on the first poll of each boot; empty for agents from before the list. */
  @Column({ type: 'text', array: true, default: () => "'{}'" }) features!: string[];
  /** The agent's clock minus the hub's at its last poll, ms (bigint: a string as read); null when the agent does not say. */
  @Column({ name: 'clock_offset_ms', type: 'bigint', nullable: true }) clockOffsetMs!: string | null;
  /** Whether the hub holds the agent's clock skewed (announced by `agent-clock-skewed`, until `agent-clock-synchronised`). */
  @Column({ name: 'clock_skewed', type: 'boolean', default: false }) clockSkewed!: boolean;
  /** How many times in a row (each within ten minutes of the one before) a boot this agent had left polled again. */
  @Column({ name: 'boot_returns', type: 'integer', default: 0 }) bootReturns!: number;
  @Column({ name: 'boot_returned_at', type: 'timestamptz', nullable: true }) bootReturnedAt!: Date | null;
  /** Since when two processes poll as this agent (`agent-duplicated`), until only one does for ten minutes; null otherwise. */
  @Column({ name: 'duplicated_at', type: 'timestamptz', nullable: true }) duplicatedAt!: Date | null;
  /** When the duplicate flag was last set or cleared. */
  @Column({ name: 'duplicate_changed_at', type: 'timestamptz', nullable: true }) duplicateChangedAt!: Date | null;
  /** While duplicated: the boot that keeps this identity; every other one is told to re-enrol (`POST /api/agent/reenrol`). */
  @Column({ name: 'duplicate_kept_boot', type: 'uuid', nullable: true }) duplicateKeptBoot!: string | null;
  /** The kept boot's last poll before another boot took over from it (kept as boots take over, not by every heartbeat). */
  @Column({ name: 'duplicate_kept_seen_at', type: 'timestamptz', nullable: true }) duplicateKeptSeenAt!: Date | null;
  /** The first poll of another boot since the kept boot's last one; null when none. */
  @Column({ name: 'duplicate_contested_at', type: 'timestamptz', nullable: true }) duplicateContestedAt!: Date | null;
  @Column({ name: 'auth_failures', type: 'integer', default: 0 }) authFailures!: number;
  @Column({ name: 'enrolled_at', type: 'timestamptz' }) enrolledAt!: Date;
  @Column({ name: 'secret_rotated_at', type: 'timestamptz', nullable: true }) secretRotatedAt!: Date | null;
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true }) revokedAt!: Date | null;
}
