import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The SSH host key pinned for a device (trust on first use); a different key waits in `pending*` for an operator. */
@Entity({ name: 'device_host_keys' })
export class DeviceHostKeyEntity {
  @PrimaryColumn({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ type: 'text' }) algorithm!: string;
  /** `SHA256:` + unpadded base64 of the key's SHA-256, as `ssh-keygen -lf` shows it. */
  @Column({ type: 'text' }) fingerprint!: string;
  @Column({ name: 'first_seen_at', type: 'timestamptz' }) firstSeenAt!: Date;
  @Column({ name: 'accepted_at', type: 'timestamptz' }) acceptedAt!: Date;
  @Column({ name: 'pending_algorithm', type: 'text', nullable: true }) pendingAlgorithm!: string | null;
  @Column({ name: 'pending_fingerprint', type: 'text', nullable: true }) pendingFingerprint!: string | null;
  @Column({ name: 'pending_seen_at', type: 'timestamptz', nullable: true }) pendingSeenAt!: Date | null;
}
