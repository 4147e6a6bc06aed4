import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export type CredentialType = 'no-connection-required' | 'ssh-password' | 'ssh-key' | 'telnet' | 'smb';

@Entity({ name: 'credentials' })
export class CredentialEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) name!: string;
  @Column({ type: 'text' }) type!: CredentialType;
  /** Who logs in; not a secret (shown in the API). */
  @Column({ type: 'text', nullable: true }) username!: string | null;
  /** Windows domain of an `smb` credential. */
  @Column({ type: 'text', nullable: true }) domain!: string | null;
  /**
   * The secrets (password, private key and passphrase, enable secret) as JSON sealed with the
   * hub's master key (AES-256-GCM, bound to the credential id); null for types that need none.
   * Never leaves the hub in clear, never logged.
   */
  @Column({ name: 'secret_ciphertext', type: 'bytea', nullable: true }) secretCiphertext!: Buffer | null;
  /** Names of the sealed secrets (`password`, `privateKey`, ...): what the API may say about them. */
  @Column({ name: 'secret_fields', type: 'jsonb', default: () => "'[]'" }) secretFields!: string[];
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt!: Date;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
