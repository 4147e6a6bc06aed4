import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export interface PortRuleRecord {
  range: string;
  protocol: 'tcp' | 'udp' | 'both';
  exclude: boolean;
}
export interface PortSetRecord {
  tcp: { from: number; to: number }[];
  udp: { from: number; to: number }[];
}
export interface ScheduleRecord {
  kind: 'at-agent-startup' | 'once' | 'interval' | 'cron';
  every?: string | number;
  cron?: string;
  at?: string;
}

export interface FlappingRecord {
  threshold: number;
  windowSeconds: number;
}

/** How an agentless tracker reaches its device: the protocol, the device profile (commands and parsers) and the port. */
export interface CollectorRecord {
  protocol: 'ssh' | 'telnet' | 'smb';
  profile: string;
  port: number;
}

@Entity({ name: 'trackers' })
@Index('trackers_due_idx', ['enabled', 'nextRunAt'])
export class TrackerEntity {
  @PrimaryGeneratedColumn('uuid') id!: string;
  @Column({ type: 'text' }) name!: string;
  @Index() @Column({ name: 'device_id', type: 'uuid' }) deviceId!: string;
  @Column({ type: 'text' }) type!: 'network-port';
  @Column({ type: 'text' }) mode!: 'network' | 'remote' | 'self' | 'agentless';
  /** Set exactly for `agentless` trackers: a collector reads the device over SSH, Telnet or SMB. */
  @Column({ type: 'jsonb', nullable: true }) collector!: CollectorRecord | null;
  /** The agent that runs this tracker on its own schedule (self-scans, scanning agents); null: the hub's scanner workers. */
  @Index() @Column({ name: 'agent_id', type: 'uuid', nullable: true }) agentId!: string | null;
  @Column({ name: 'port_rules', type: 'jsonb' }) portRules!: PortRuleRecord[];
  @Column({ name: 'port_set', type: 'jsonb' }) portSet!: PortSetRecord;
  @Column({ type: 'jsonb' }) schedule!: ScheduleRecord;
  @Column({ name: 'send_baseline_events', type: 'boolean' }) sendBaselineEvents!: boolean;
  @Column({ name: 'tcp_technique', type: 'text' }) tcpTechnique!: 'auto' | 'connect' | 'syn';
  @Column({ name: 'skip_host_discovery', type: 'boolean' }) skipHostDiscovery!: boolean;
  /** At most this many probes a second for each of the tracker's runs (nmap --max-rate; a run's chunks are scanned one after another); null: nmap's own pace. */
  @Column({ name: 'max_rate', type: 'double precision', nullable: true }) maxRate!: number | null;
  @Column({ type: 'boolean' }) enabled!: boolean;
  /** Consecutive complete scans a change must be seen in before it is reported (1: at once). */
  @Column({ type: 'integer', default: 1 }) confirmations!: number;
  /** More than `threshold` changes of one item within `windowSeconds` is flapping; null: off. */
  @Column({ type: 'jsonb', nullable: true }) flapping!: FlappingRecord | null;
  /** What a UDP port nmap reports `open|filtered` counts as. */
  @Column({ name: 'udp_open_filtered', type: 'text', default: 'closed' }) udpOpenFiltered!: 'open' | 'closed' | 'ignore';
  /** Before a change is reported, the changed ports of that host are scanned once more at once (scanner-run trackers). */
  @Column({ type: 'boolean', default: false }) reprobe!: boolean;
  @Column({ name: 'next_run_at', type: 'timestamptz', nullable: true }) nextRunAt!: Date | null;
  @Column({ name: 'last_run_at', type: 'timestamptz', nullable: true }) lastRunAt!: Date | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt!: Date;
}
