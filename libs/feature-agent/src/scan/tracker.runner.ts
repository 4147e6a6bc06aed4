import { hostname } from 'node:os';
import { AgentResult, AgentTracker, isDomainError } from '@portolan/contracts';
import { collectListeningSockets, CommandRunner, toHostObservation } from '@portolan/netstat';
import { defaultTcpTechnique, ScanEngine, scanFailureReason, scanPercent, selectScanEngine } from '@portolan/nmap';
import type { RunProgress } from './progress.reporter';

export type RunTrigger = AgentResult['trigger'];

/**
 * Runs one tracker once and describes the run as an agent result: `self` lists the host's own
 * listening sockets (ss, else netstat); `remote` and `network` run nmap (or the built-in
 * connect scanner where nmap is absent) against the targets the hub resolved and allowed.
 * A run that fails becomes a failed result with the reason, never an empty observation.
 */
export class TrackerRunner {
  private engine?: Promise<ScanEngine>;

  constructor(private readonly options: { scanner: boolean; selfScanTimeoutMs?: number; commandRunner?: CommandRunner } = { scanner: false }) {}

  /** `onProgress`: how far a remote or network scan has got, as often as the engine says (a self-scan takes moments and says nothing). */
  async run(tracker: AgentTracker, jobId: string, trigger: RunTrigger, signal?: AbortSignal, onProgress?: (progress: RunProgress) => void): Promise<AgentResult> {
    const startedAt = new Date();
    const base = { jobId, trackerId: tracker.id, trigger, startedAt: startedAt.toISOString(), coverage: { ports: tracker.ports } };
    try {
      return tracker.mode === 'self' ? await this.selfScan(tracker, base) : await this.networkScan(tracker, base, signal, onProgress);
    } catch (error) {
      const code = scanFailureReason(error) ?? (isDomainError(error) ? error.code : 'internal');
      const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
      return {
        ...base,
        status: 'failed',
        engine: tracker.mode === 'self' ? 'ss' : 'nmap',
        engineVersion: '',
        args: [],
        finishedAt: new Date().toISOString(),
        hosts: [],
        error: { code, message },
      };
    }
  }

  private async selfScan(tracker: AgentTracker, base: Pick<AgentResult, 'jobId' | 'trackerId' | 'trigger' | 'startedAt' | 'coverage'>): Promise<AgentResult> {
    const listing = await collectListeningSockets({ timeoutMs: this.options.selfScanTimeoutMs ?? 30_000, run: this.options.commandRunner, platform: this.options.commandRunner ? 'linux' : undefined });
    return {
      ...base,
      status: 'completed',
      engine: listing.tool,
      engineVersion: listing.toolVersion.slice(0, 128),
      args: listing.args,
      finishedAt: new Date().toISOString(),
      hosts: [toHostObservation(hostname(), listing.sockets, tracker.ports)],
    };
  }

  private async networkScan(
    tracker: AgentTracker,
    base: Pick<AgentResult, 'jobId' | 'trackerId' | 'trigger' | 'startedAt' | 'coverage'>,
    signal?: AbortSignal,
    onProgress?: (progress: RunProgress) => void,
  ): Promise<AgentResult> {
    const scan = tracker.scan;
    if (!this.options.scanner) throw Object.assign(new Error(`tracker ${tracker.name} is a ${tracker.mode} scan but this agent is not a scanning agent`), { code: 'not_a_scanner' });
    if (!scan) throw new Error(`tracker ${tracker.name} has no scan targets`);
    this.engine ??= selectScanEngine('auto');
    const engine = await this.engine;
    const technique = scan.tcpTechnique === 'auto' ? defaultTcpTechnique(engine) : scan.tcpTechnique;
    const outcome = await engine.scan(
      { targets: scan.targets, ipv6: scan.ipv6, ports: tracker.ports, tcpTechnique: technique, skipHostDiscovery: scan.skipHostDiscovery, maxRate: scan.maxRate, timeoutMs: scan.timeoutMs, signal },
      onProgress && ((p) => onProgress({ percent: scanPercent(p, scan.hostCount) })),
    );
    return {
      ...base,
      status: 'completed',
      engine: outcome.engine,
      engineVersion: outcome.engineVersion.slice(0, 128),
      args: outcome.args,
      startedAt: outcome.startedAt.toISOString(),
      finishedAt: outcome.finishedAt.toISOString(),
      hosts: outcome.hosts.map((host) => ({
        address: host.address,
        hostnames: [...new Set([...host.hostnames, ...(scan.hostNames[host.address] ? [scan.hostNames[host.address]] : [])])].slice(0, 32),
        state: host.state,
        reason: host.reason,
        ports: host.ports.map((p) => ({ protocol: p.protocol, port: p.port, state: p.state, reason: p.reason, service: p.service, product: p.product, version: p.version })),
      })),
    };
  }
}
