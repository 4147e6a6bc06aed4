import { DomainError } from '@portolan/contracts/errors';
import { isAbsolute } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildNmapArgs } from './nmap-args.builder';
import { detectNmap } from './nmap.detector';
import type { DetectNmapOptions, NmapBinary } from './nmap.detector';
import { runNmap } from './nmap.runner';
import type { NmapRunResult } from './nmap.runner';
import { scanFailed } from './scan-failure';
import type { HostObservation, ScanEngine, ScanOutcome, ScanProgress } from './scan-outcome';
import type { ScanRequest } from './scan-request';

export interface NmapEngineOptions {
  /** Grace between SIGTERM and SIGKILL when a scan is stopped. */
  killGraceMs?: number;
}

/** The last few non-empty stderr lines, for an error message a person can act on. */
export function stderrTail(stderr: string, lines = 4): string {
  return stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .join(' | ');
}

function withStderr(message: string, stderr: string): string {
  const tail = stderrTail(stderr);
  return tail.length > 0 ? `${message}. nmap said: ${tail}` : message;
}

/**
 * Turns a finished nmap run into an error when nmap failed, including the quiet failure where
 * nmap exits 0 having scanned no host at all because no target resolved.
 */
export function judgeNmapRun(result: NmapRunResult, targets: string[]): DomainError | null {
  const { summary, stderr } = result;
  const details = { exitCode: result.exitCode, stderr: stderrTail(stderr, 20) };
  if (summary?.exit === 'error') {
    return scanFailed('nmap_error', `nmap failed: ${summary.errorMessage ?? 'no reason given'}`, details);
  }
  if (result.exitSignal !== null) {
    return scanFailed('exit_status', withStderr(`nmap was killed by ${result.exitSignal}`, stderr), details);
  }
  if (result.exitCode !== 0) {
    return scanFailed('exit_status', withStderr(`nmap exited with status ${result.exitCode}`, stderr), details);
  }
  if (result.parseError !== null || summary === null) {
    const why = result.parseError?.message ?? 'no run summary';
    return scanFailed('malformed_output', `nmap output could not be read: ${why}`, details);
  }
  if (summary.hostsTotal === 0 && targets.length > 0) {
    const message = `nmap scanned 0 hosts: none of the targets (${targets.join(' ')}) resolved to an address to scan`;
    return scanFailed('no_hosts', withStderr(message, stderr), { ...details, targets });
  }
  return null;
}

/** ScanEngine over the nmap binary, run with the argv from buildNmapArgs(). */
export class NmapEngine implements ScanEngine {
  readonly name = 'nmap' as const;

  constructor(
    readonly binary: NmapBinary,
    private readonly options: NmapEngineOptions = {},
  ) {
    if (!isAbsolute(binary.path)) {
      throw new DomainError('invalid_config', `nmap path must be absolute, got "${binary.path}"`);
    }
  }

  /** An engine for the nmap found on PATH, or null when there is none. */
  static async detect(options?: DetectNmapOptions): Promise<NmapEngine | null> {
    const binary = await detectNmap(options);
    return binary === null ? null : new NmapEngine(binary);
  }

  async scan(request: ScanRequest, onProgress?: (p: ScanProgress) => void): Promise<ScanOutcome> {
    if (!Number.isFinite(request.timeoutMs) || request.timeoutMs <= 0) {
      throw new DomainError('invalid_payload', `timeoutMs must be a positive number, got ${request.timeoutMs}`);
    }
    const args = buildNmapArgs(request);
    const hosts: HostObservation[] = [];
    const startedAt = new Date();
    const started = performance.now();
    const result = await runNmap(this.binary.path, args, {
      timeoutMs: request.timeoutMs,
      signal: request.signal,
      killGraceMs: this.options.killGraceMs,
      handlers: {
        onHost: (host) => hosts.push(host),
        onProgress: (progress) => {
          try {
            onProgress?.(progress);
          } catch {
            // Progress is advisory: a failing listener must not fail the scan.
          }
        },
      },
    });
    const failure = judgeNmapRun(result, request.targets);
    if (failure !== null) throw failure;
    const summary = result.summary!;
    const durationMs = Math.round(performance.now() - started);
    return {
      engine: 'nmap',
      engineVersion: result.info?.version || this.binary.version,
      args,
      hosts,
      hostsUp: summary.hostsUp,
      hostsDown: summary.hostsDown,
      hostsTotal: summary.hostsTotal,
      startedAt,
      finishedAt: new Date(startedAt.getTime() + durationMs),
      durationMs,
    };
  }
}
