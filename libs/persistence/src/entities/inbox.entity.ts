import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Idempotency: a consumer records each message it applied in the same transaction as the effect. */
@Entity({ name: 'inbox' })
export class InboxEntity {
  @PrimaryColumn({ name: 'message_id', type: 'uuid' }) messageId!: string;
  @PrimaryColumn({ type: 'text' }) consumer!: string;
  @Column({ name: 'processed_at', type: 'timestamptz' }) processedAt!: Date;
}
