import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type ScanChunkStatus = 'queued' | 'running' | 'done' | 'failed';

/** Parts of one scan attempt's result applied so far (results too large for one message). */
export interface ResultPartsRecord {
  scanId: string;
  /** When that scan attempt started; an older attempt never displaces a newer one. */
  startedAt: string;
  count: number;
  seen: number[];
  hostsUp: number;
}

@Entity({ name: 'scan_chunks' })
@Index('scan_chunks_job_id_chunk_index_key', ['jobId', 'index'], { unique: true })
@Index('scan_chunks_open_idx', ['status', 'deadline'])
@Index('scan_chunks_held_idx', ['jobId', 'index'], { where: 'held' })
export class ScanChunkEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column({ name: 'job_id', type: 'uuid' }) jobId!: string;
  @Column({ name: 'chunk_index', type: 'integer' }) index!: number;
  /** A scan (nmap, a scanner worker) or a collection (SSH, Telnet, SMB, a collector). */
  @Column({ type: 'text', default: 'scan' }) kind!: 'scan' | 'collect';
  @Column({ type: 'jsonb' }) targets!: string[];
  @Column({ name: 'host_count', type: 'integer' }) hostCount!: number;
  @Column({ name: 'probe_count', type: 'integer' }) probeCount!: number;
  @Column({ type: 'text' }) status!: ScanChunkStatus;
  @Column({ type: 'real', default: 0 }) progress!: number;
  @Column({ name: 'hosts_done', type: 'integer', default: 0 }) hostsDone!: number;
  @Column({ type: 'text', nullable: true }) worker!: string | null;
  @Column({ type: 'text', nullable: true }) engine!: string | null;
  @Column({ name: 'engine_version', type: 'text', nullable: true }) engineVersion!: string | null;
  @Column({ type: 'jsonb', nullable: true }) args!: string[] | null;
  @Column({ name: 'queued_at', type: 'timestamptz' }) queuedAt!: Date;
  @Column({ name: 'started_at', type: 'timestamptz', nullable: true }) startedAt!: Date | null;
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true }) finishedAt!: Date | null;
  @Column({ type: 'timestamptz' }) deadline!: Date;
  @Column({ type: 'text', nullable: true }) error!: string | null;
  /** Failed by the scheduler for want of its result by the deadline: a result that comes after all reopens it. */
  @Column({ name: 'timed_out', type: 'boolean', default: false }) timedOut!: boolean;
  @Column({ name: 'result_parts', type: 'jsonb', nullable: true }) resultParts!: ResultPartsRecord | null;
  /** The scan request as published to the site's workers, kept to publish it again if lost. */
  @Column({ type: 'jsonb', nullable: true }) request!: Record<string, unknown> | null;
  @Column({ name: 'published_at', type: 'timestamptz', nullable: true }) publishedAt!: Date | null;
  /**
   * Waits, stored and not published, for its turn: a paced tracker's chunks are scanned one at a
   * time, its runs' one after another (`ChunkDispatcher.releasePacedTurns`), so that they keep to
   * its `maxRate` between them however many workers take them. Its deadline is set when it is released.
   */
  @Column({ type: 'boolean', default: false }) held!: boolean;
}
