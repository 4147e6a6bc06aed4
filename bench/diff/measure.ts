/**
 * Helpers for run.ts: running a command under GNU time for wall time and peak RSS, medians,
 * the facts about the machine a result depends on, and reading the changes out of ndiff's
 * text report so they can be set against Portolan's.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';

export const TIME = '/usr/bin/time';
const MARK = 'BENCH_TIME';

export interface Measurement {
  wallS: number;
  peakRssMb: number;
  status: number | null;
  stdout: string;
}

export function which(command: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

/** Runs `command` once under GNU time: wall time measured here, peak RSS as time reports it. */
export function measure(command: string, args: string[], cwd: string): Measurement {
  const started = performance.now();
  const run = spawnSync(TIME, ['-f', `${MARK} %e %M`, command, ...args], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const wallS = (performance.now() - started) / 1000;
  const line = run.stderr.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`no ${TIME} report for ${command}: ${run.stderr.slice(-500)}`);
  const [, , maxRssKb] = line.split(' ');
  return { wallS, peakRssMb: Number(maxRssKb) / 1024, status: run.status, stdout: run.stdout };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  loadAverage: [number, number, number];
  node: string;
  nmap: string;
  ndiff: string;
  python: string;
}

function firstLine(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return `${run.stdout}${run.stderr}`.trim().split('\n')[0] ?? '';
}

export function machineFacts(): MachineFacts {
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100) as [number, number, number],
    node: process.version,
    nmap: firstLine('nmap', ['--version']),
    ndiff: firstLine('dpkg-query', ['-W', '-f=${Version}', 'ndiff']) || 'unknown',
    python: firstLine('python3', ['--version']),
  };
}

/**
 * The port changes in ndiff's text report, as "+ host proto/port" (opened), "- ..." (no longer
 * open) or "~ ..." (still open, service/version changed): the form portolan-diff.ts prints
 * (Portolan's port key). Only open ports count, as Portolan's baseline holds open ports only.
 */
export function ndiffChanges(report: string): string[] {
  const changes: string[] = [];
  let host = '';
  let before = new Set<string>();
  let after = new Set<string>();
  const flush = (): void => {
    for (const port of before) changes.push(`${after.has(port) ? '~' : '-'} ${host} ${port}`);
    for (const port of after) if (!before.has(port)) changes.push(`+ ${host} ${port}`);
    before = new Set();
    after = new Set();
  };
  for (const line of report.split('\n')) {
    const header = /^[ +-]([0-9A-Fa-f.:]+?)(?:, [0-9A-Fa-f:]+)?:$/.exec(line);
    const port = /^([+-])(\d+)\/(tcp|udp)\s+open\s/.exec(line);
    if (header) {
      flush();
      host = header[1];
    } else if (port) {
      (port[1] === '-' ? before : after).add(`${port[3]}/${port[2]}`);
    } else if (line.trim() === '') {
      flush();
    }
  }
  flush();
  return changes;
}
