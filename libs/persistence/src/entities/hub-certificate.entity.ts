import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A certificate a gateway of the hub serves or has staged to serve next, by its SHA-256
 * fingerprint. Agents that pin the hub are told of every one not retired that a gateway has
 * registered lately (`announced`).
 */
@Entity({ name: 'hub_certificates' })
export class HubCertificateEntity {
  @PrimaryColumn('uuid') id!: string;
  /** Upper-case hex pairs separated by ':', as Node's `fingerprint256` gives it. */
  @Column({ type: 'text', unique: true }) fingerprint!: string;
  @Column({ type: 'text' }) subject!: string;
  @Column({ name: 'not_after', type: 'timestamptz' }) notAfter!: Date;
  /** Served by a gateway (true), or so far only staged as a gateway's next certificate (false). */
  @Column({ type: 'boolean' }) served!: boolean;
  /** The gateway instance that last registered it. */
  @Column({ type: 'text' }) instance!: string;
  @Column({ name: 'first_seen_at', type: 'timestamptz' }) firstSeenAt!: Date;
  @Column({ name: 'last_seen_at', type: 'timestamptz' }) lastSeenAt!: Date;
  @Column({ name: 'retired_at', type: 'timestamptz', nullable: true }) retiredAt!: Date | null;
  @Column({ name: 'retired_by', type: 'text', nullable: true }) retiredBy!: string | null;
  /** In the pin set agents are given now; changed only together with every agent's configuration version. */
  @Column({ type: 'boolean', default: false }) announced!: boolean;
}
