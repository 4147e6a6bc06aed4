import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Leader election among replicas (the scheduler): whoever holds an unexpired lease leads. */
@Entity({ name: 'leader_leases' })
export class LeaderLeaseEntity {
  @PrimaryColumn({ type: 'text' }) name!: string;
  @Column({ type: 'text' }) holder!: string;
  @Column({ name: 'expires_at', type: 'timestamptz' }) expiresAt!: Date;
}
