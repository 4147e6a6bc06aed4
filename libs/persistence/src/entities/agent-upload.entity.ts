import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One accepted result upload of an agent: the idempotency record (a replayed upload finds it)
 * and the outbox of the result message (published after commit, again by the scheduler's
 * leader if that publish was lost). `seq` orders one tracker's results: the comparer applies
 * them in the order the hub accepted them.
 */
@Entity({ name: 'agent_uploads' })
export class AgentUploadEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ type: 'bigint', generated: 'increment', insert: false }) seq!: string;
  @Column({ name: 'agent_id', type: 'uuid' }) agentId!: string;
  @Column({ name: 'idempotency_key', type: 'text' }) idempotencyKey!: string;
  @Column({ name: 'job_id', type: 'uuid' }) jobId!: string;
  @Column({ name: 'tracker_id', type: 'uuid' }) trackerId!: string;
  @Column({ type: 'text' }) kind!: 'completed' | 'failed';
  /** The upload as the agent sent it (gzip-compressed JSON, within the gateway's size limit). */
  @Column({ name: 'body_gzip', type: 'bytea', nullable: true }) bodyGzip!: Buffer | null;
  /** What the hub decided when it accepted the upload (`ResultAcceptance`); with the body, the result message. */
  @Column({ type: 'jsonb', nullable: true }) acceptance!: Record<string, unknown> | null;
  /** The result message as JSON (rows written before payloads were compressed). */
  @Column({ type: 'jsonb', nullable: true }) payload!: Record<string, unknown> | null;
  /** The result message as gzip-compressed JSON (rows written before bodies were kept as sent). */
  @Column({ name: 'payload_gzip', type: 'bytea', nullable: true }) payloadGzip!: Buffer | null;
  @Column({ name: 'received_at', type: 'timestamptz' }) receivedAt!: Date;
  @Column({ name: 'published_at', type: 'timestamptz', nullable: true }) publishedAt!: Date | null;
  @Column({ name: 'applied_at', type: 'timestamptz', nullable: true }) appliedAt!: Date | null;
}
