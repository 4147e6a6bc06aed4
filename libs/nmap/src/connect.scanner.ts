import { DomainError } from '@portolan/contracts/errors';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { expandConnectTargets } from './connect-targets.expander';
import { formatNmapPortSpec, maxRateArgs } from './nmap-args.builder';
import { cancelled, MAX_TIMER_MS, timedOut } from './scan-failure';
import type { HostObservation, PortObservation, ScanEngine, ScanOutcome, ScanProgress } from './scan-outcome';
import type { PortRange, ScanRequest } from './scan-request';
import { probeTcp } from './tcp.probe';
import type { Probe, ProbeResult } from './tcp.probe';

export const CONNECT_ENGINE_VERSION = 'portolan-connect/1';

export interface ConnectScannerOptions {
  /** How long one connect() may take before the port counts as filtered. */
  probeTimeoutMs?: number;
  /** Probes in flight across all hosts. */
  concurrency?: number;
  /** Probes in flight against one host. */
  perHostConcurrency?: number;
  progressIntervalMs?: number;
  /** Replaces the TCP connect probe (tests, or another transport). */
  probe?: (address: string, port: number, timeoutMs: number) => Probe;
}

/** Walks sorted inclusive ranges one port at a time without materialising them. */
class PortCursor {
  private rangeIndex = 0;
  private nextPort: number;

  constructor(private readonly ranges: PortRange[]) {
    this.nextPort = ranges[0]?.from ?? 0;
  }

  get hasNext(): boolean {
    return this.rangeIndex < this.ranges.length;
  }

  next(): number {
    const port = this.nextPort;
    const range = this.ranges[this.rangeIndex];
    if (port >= range.to) {
      this.rangeIndex += 1;
      this.nextPort = this.ranges[this.rangeIndex]?.from ?? 0;
    } else {
      this.nextPort = port + 1;
    }
    return port;
  }

  stop(): void {
    this.rangeIndex = this.ranges.length;
  }
}

interface HostRun {
  index: number;
  address: string;
  cursor: PortCursor;
  inFlight: number;
  startedAt: number;
  timedOut: boolean;
  firstAnswer?: string;
  open: PortObservation[];
}

function toObservation(run: HostRun): HostObservation {
  const up = run.firstAnswer !== undefined && !run.timedOut;
  return {
    address: run.address,
    addresses: [{ addr: run.address, type: isIPv6(run.address) ? 'ipv6' : 'ipv4' }],
    hostnames: [],
    state: up ? 'up' : 'unknown',
    reason: run.timedOut ? 'host-timeout' : (run.firstAnswer ?? 'no-response'),
    ports: up ? run.open.sort((a, b) => a.port - b.port) : [],
  };
}

/**
 * A TCP connect() scanner for machines without nmap. A host is 'up' once any probe is answered
 * (open or refused); a host whose probes all went unanswered is 'unknown' with no ports, never
 * "all closed". Only open ports are listed, as nmap's XML does for a mostly closed host.
 */
export class ConnectScanner implements ScanEngine {
  readonly name = 'connect' as const;
  private readonly probeTimeoutMs: number;
  private readonly concurrency: number;
  private readonly perHostConcurrency: number;
  private readonly progressIntervalMs: number;
  private readonly probe: (address: string, port: number, timeoutMs: number) => Probe;

  constructor(options: ConnectScannerOptions = {}) {
    this.probeTimeoutMs = options.probeTimeoutMs ?? 1500;
    this.concurrency = Math.max(1, options.concurrency ?? 256);
    this.perHostConcurrency = Math.max(1, Math.min(options.perHostConcurrency ?? 64, this.concurrency));
    this.progressIntervalMs = options.progressIntervalMs ?? 2000;
    this.probe = options.probe ?? probeTcp;
  }

  async scan(request: ScanRequest, onProgress?: (p: ScanProgress) => void): Promise<ScanOutcome> {
    if (request.ports.udp.length > 0) {
      throw new DomainError('engine_unavailable', 'UDP scanning needs nmap, which is not installed on this scanner');
    }
    if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
      throw new DomainError('invalid_payload', `timeoutMs must be a positive number, got ${request.timeoutMs}`);
    }
    const portSpec = formatNmapPortSpec({ tcp: request.ports.tcp, udp: [] });
    const addresses = expandConnectTargets(request.targets, request.ipv6);
    const args = ['-sT', '-p', portSpec, ...(request.ipv6 ? ['-6'] : []), ...maxRateArgs(request.maxRate), ...request.targets];
    if (request.signal?.aborted) throw cancelled('connect');

    const startedAt = new Date();
    const started = performance.now();
    const hosts = await this.run(addresses, request, onProgress);
    const durationMs = Math.round(performance.now() - started);
    const hostsUp = hosts.filter((host) => host.state === 'up').length;
    return {
      engine: 'connect',
      engineVersion: CONNECT_ENGINE_VERSION,
      args,
      hosts,
      hostsUp,
      hostsDown: hosts.length - hostsUp,
      hostsTotal: hosts.length,
      startedAt,
      finishedAt: new Date(startedAt.getTime() + durationMs),
      durationMs,
    };
  }

  private run(
    addresses: string[],
    request: ScanRequest,
    onProgress?: (p: ScanProgress) => void,
  ): Promise<HostObservation[]> {
    const portsPerHost = request.ports.tcp.reduce((sum, range) => sum + range.to - range.from + 1, 0);
    const totalProbes = addresses.length * portsPerHost;
    const results: HostObservation[] = new Array(addresses.length);
    const active: HostRun[] = [];
    const inFlight = new Set<Probe>();
    const started = performance.now();
    let nextHost = 0;
    let roundRobin = 0;
    let probesDone = 0;
    let hostsDone = 0;
    let stopped = false;
    // maxRate: one connect each `gapMs` at most; a pump held back by it is woken by `paceTimer`.
    const gapMs = request.maxRate === undefined ? 0 : 1000 / request.maxRate;
    let nextLaunchAt = started;
    let paceTimer: NodeJS.Timeout | undefined;

    return new Promise<HostObservation[]>((resolve, reject) => {
      const report = (percent: number): void => {
        const elapsed = (performance.now() - started) / 1000;
        const progress: ScanProgress = { percent: Math.round(percent * 100) / 100, task: 'Connect Scan', hostsDone };
        if (probesDone > 0 && percent < 100) {
          progress.remainingSeconds = Math.ceil((elapsed / probesDone) * (totalProbes - probesDone));
        }
        try {
          onProgress?.(progress);
        } catch {
          // Progress is advisory: a failing listener must not fail the scan.
        }
      };
      const ticker = setInterval(() => report((probesDone / totalProbes) * 100), this.progressIntervalMs);
      const deadline = setTimeout(() => stop(timedOut('connect', request.timeoutMs)), Math.min(request.timeoutMs, MAX_TIMER_MS));
      const onAbort = (): void => stop(cancelled('connect'));
      request.signal?.addEventListener('abort', onAbort, { once: true });

      const cleanup = (): void => {
        stopped = true;
        clearInterval(ticker);
        clearTimeout(deadline);
        clearTimeout(paceTimer);
        request.signal?.removeEventListener('abort', onAbort);
      };
      function stop(error: Error): void {
        if (stopped) return;
        cleanup();
        inFlight.forEach((probe) => probe.cancel());
        reject(error);
      }

      const completeHost = (run: HostRun): void => {
        results[run.index] = toObservation(run);
        active.splice(active.indexOf(run), 1);
        hostsDone += 1;
      };
      const hostTimedOut = (run: HostRun): boolean =>
        request.hostTimeoutMs !== undefined && performance.now() - run.startedAt > request.hostTimeoutMs;

      const pickHost = (): HostRun | null => {
        for (let scanned = 0; scanned < active.length; scanned += 1) {
          roundRobin = (roundRobin + 1) % active.length;
          const run = active[roundRobin];
          if (!run.timedOut && run.cursor.hasNext && hostTimedOut(run)) {
            run.timedOut = true;
            run.cursor.stop();
          }
          if (!run.cursor.hasNext && run.inFlight === 0) {
            completeHost(run);
            return pickHost();
          }
          if (run.cursor.hasNext && run.inFlight < this.perHostConcurrency) return run;
        }
        if (nextHost >= addresses.length) return null;
        const ports = new PortCursor(request.ports.tcp);
        const run: HostRun = { index: nextHost, address: addresses[nextHost], cursor: ports, inFlight: 0, startedAt: performance.now(), timedOut: false, open: [] };
        nextHost += 1;
        active.push(run);
        return run;
      };

      const onAnswer = (run: HostRun, port: number, answer: ProbeResult): void => {
        if (answer.state === 'filtered') return;
        run.firstAnswer ??= answer.reason;
        if (answer.state === 'open') run.open.push({ protocol: 'tcp', port, state: 'open', reason: answer.reason });
      };

      const launch = (run: HostRun): void => {
        const port = run.cursor.next();
        const probe = this.probe(run.address, port, this.probeTimeoutMs);
        inFlight.add(probe);
        run.inFlight += 1;
        probe.result.then(
          (answer) => {
            inFlight.delete(probe);
            run.inFlight -= 1;
            if (stopped || answer === null) return;
            probesDone += 1;
            onAnswer(run, port, answer);
            if (!run.cursor.hasNext && run.inFlight === 0) completeHost(run);
            pump();
          },
          (error: Error) => {
            inFlight.delete(probe);
            stop(error);
          },
        );
      };

      /** Whether a connect may start now under maxRate (and its slot is taken); if not, a pump is due when it may. */
      const paced = (): boolean => {
        const now = performance.now();
        if (now >= nextLaunchAt) {
          nextLaunchAt = Math.max(nextLaunchAt, now) + gapMs;
          return true;
        }
        paceTimer ??= setTimeout(() => {
          paceTimer = undefined;
          pump();
        }, Math.ceil(nextLaunchAt - now));
        return false;
      };

      const pump = (): void => {
        while (!stopped && inFlight.size < this.concurrency) {
          if (gapMs > 0 && !paced()) break;
          const run = pickHost();
          if (run === null) break;
          launch(run);
        }
        if (!stopped && inFlight.size === 0 && active.length === 0 && nextHost >= addresses.length) {
          cleanup();
          report(100);
          resolve(results);
        }
      };
      pump();
    });
  }
}
