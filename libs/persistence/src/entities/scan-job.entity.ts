import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { PortSetRecord } from './tracker.entity';

export type ScanJobStatus = 'pending' | 'queued' | 'running' | 'succeeded' | 'partial' | 'failed';

/** One run of a tracker; a network scan runs as several chunks (scan_chunks). */
@Entity({ name: 'scan_jobs' })
@Index('scan_jobs_tracker_idx', ['trackerId', 'requestedAt'])
@Index('scan_jobs_requested_idx', ['requestedAt', 'id'])
export class ScanJobEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ name: 'tracker_id', type: 'uuid' }) trackerId!: string;
  @Column({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ type: 'text', nullable: true }) site!: string | null;
  /** `reprobe`: the comparer asked for it, to see changed ports once more before reporting them. */
  @Column({ type: 'text' }) trigger!: 'manual' | 'schedule' | 'agent-startup' | 'reprobe';
  /** A re-probe's narrower target: these hosts of the device, these ports of the tracker, of them only these (host, port) items; which attempt. */
  @Column({ type: 'jsonb', nullable: true }) probe!: { hosts: string[]; ports: PortSetRecord; items?: string[]; attempt?: number } | null;
  /** The agent that runs this job; null for the hub's scanner workers. */
  @Column({ name: 'agent_id', type: 'uuid', nullable: true }) agentId!: string | null;
  @Column({ type: 'text' }) status!: ScanJobStatus;
  @Column({ name: 'hosts_planned', type: 'integer', default: 0 }) hostsPlanned!: number;
  @Column({ name: 'probes_planned', type: 'integer', default: 0 }) probesPlanned!: number;
  @Column({ name: 'hosts_done', type: 'integer', default: 0 }) hostsDone!: number;
  @Column({ name: 'probes_done', type: 'integer', default: 0 }) probesDone!: number;
  @Column({ name: 'hosts_up', type: 'integer', default: 0 }) hostsUp!: number;
  @Column({ name: 'chunk_count', type: 'integer', default: 0 }) chunkCount!: number;
  @Column({ name: 'chunks_done', type: 'integer', default: 0 }) chunksDone!: number;
  @Column({ name: 'chunks_failed', type: 'integer', default: 0 }) chunksFailed!: number;
  /** Written from JS dates, whole milliseconds: `GET /jobs`'s cursor (a millisecond and the id) relies on it. */
  @Column({ name: 'requested_at', type: 'timestamptz' }) requestedAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  @Column({ name: 'duration_ms', type: 'integer', nullable: true }) durationMs!: number | null;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  /** When an operator cancelled it (`POST /jobs/:id/cancel`); its error says by whom and why. */
  @Column({ name: 'cancelled_at', type: 'timestamptz', nullable: true }) cancelledAt!: Date | null;
  /**
   * An agent's run: the boot of the agent process that claimed it (`queued`), and when; another
   * process of the agent claims it again while it has not started. Once started, the boot of the
   * process that runs it (its scan-start report).
   */
  @Column({ name: 'claimed_boot', type: 'uuid', nullable: true }) claimedBoot!: string | null;
  @Column({ name: 'claimed_at', type: 'timestamptz', nullable: true }) claimedAt!: Date | null;
  /** An agent's remote or network scan in progress: percent of the run it last reported, and when. */
  @Column({ type: 'real', default: 0 }) progress!: number;
  @Column({ name: 'progress_at', type: 'timestamptz', nullable: true }) progressAt!: Date | null;
}
