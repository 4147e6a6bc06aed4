import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

export type CredentialType = 'no-connection-required' | 'ssh-password' | 'ssh-key' | 'telnet' | 'smb';

@Entity({ name: 'credentials' })
export class CredentialEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text', unique: true }) name!: string;
  @Column({ type: 'text' }) type!: CredentialType;
  /** Encrypted secret material; null for types that need none. Never leaves the hub in clear. */
  @Column({ name: 'secret_ciphertext', type: 'bytea', nullable: true }) secretCiphertext!: Buffer | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
