import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (getconf CLK_TCK; 100 on Linux x86-64). */
const CLK_TCK = 100;

/** User + system CPU seconds of a process from /proc/<pid>/stat; undefined once it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** VmRSS and VmHWM in MiB from /proc/<pid>/status; undefined once the process is gone. */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/** Pids whose command line passes `test` (e.g. the Postgres backends of one database). */
export function pidsMatching(test: (cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue;
    }
    if (test(cmdline)) out.push(Number(entry));
  }
  return out;
}

/** Whole-machine CPU jiffies from the first line of /proc/stat. */
export interface SystemTicks {
  readonly busy: number;
  readonly total: number;
  readonly steal: number;
}

export function systemTicks(): SystemTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, steal };
}

export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [one, five, fifteen];
}

/**
 * CPU seconds used by a group of processes over a window. Sampled once a second so processes
 * that come and go inside the window (Postgres backends of a pool) are counted: a pid not seen
 * at the start was born inside the window and counts from zero; a pid that vanished counts up
 * to its last sample.
 */
export class CpuGroup {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private started = false;

  constructor(
    readonly name: string,
    private readonly pids: () => number[],
  ) {}

  sample(): void {
    for (const pid of this.pids()) {
      const seconds = cpuSecondsOf(pid);
      if (seconds === undefined) continue;
      if (!this.first.has(pid)) this.first.set(pid, this.started ? 0 : seconds);
      this.last.set(pid, seconds);
    }
    this.started = true;
  }

  get seconds(): number {
    let sum = 0;
    for (const [pid, last] of this.last) sum += last - (this.first.get(pid) ?? last);
    return sum;
  }

  get processCount(): number {
    return this.last.size;
  }
}

/** Samples groups of processes, the machine and memory once a second across one measured window. */
export class WindowSampler {
  private timer?: NodeJS.Timeout;
  private startTicks?: SystemTicks;
  private startedAt = 0;
  private readonly peaks = new Map<string, number>();
  private samples = 0;
  private readonly maxSamples = 3_600;

  constructor(
    private readonly groups: readonly CpuGroup[],
    /** Processes whose memory is followed, by name. */
    private readonly memoryOf: Readonly<Record<string, number>>,
  ) {}

  start(): void {
    this.startedAt = performance.now();
    this.startTicks = systemTicks();
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  stop(): WindowFigures {
    if (this.timer) clearInterval(this.timer);
    this.tick();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const end = systemTicks();
    const start = this.startTicks ?? end;
    const total = Math.max(1, end.total - start.total);
    const cpu: Record<string, { seconds: number; percentOfCore: number; processes: number }> = {};
    for (const group of this.groups) cpu[group.name] = { seconds: round(group.seconds, 2), percentOfCore: round((group.seconds / seconds) * 100, 1), processes: group.processCount };
    const memory: Record<string, { rssMiB: number; peakRssMiB: number }> = {};
    for (const [name, pid] of Object.entries(this.memoryOf)) {
      const now = memoryOf(pid);
      if (now) memory[name] = { rssMiB: round(now.rssMiB, 1), peakRssMiB: round(Math.max(now.rssMiB, this.peaks.get(name) ?? 0), 1) };
    }
    return {
      seconds: round(seconds, 2),
      cpu,
      memory,
      machineBusyPercent: round(((end.busy - start.busy) / total) * 100, 1),
      machineStealPercent: round(((end.steal - start.steal) / total) * 100, 1),
    };
  }

  private tick(): void {
    if (this.samples++ > this.maxSamples) return;
    for (const group of this.groups) group.sample();
    for (const [name, pid] of Object.entries(this.memoryOf)) {
      const now = memoryOf(pid);
      if (now) this.peaks.set(name, Math.max(now.rssMiB, this.peaks.get(name) ?? 0));
    }
  }
}

export interface WindowFigures {
  readonly seconds: number;
  /** Per group: CPU seconds in the window and the same as % of one core. */
  readonly cpu: Record<string, { seconds: number; percentOfCore: number; processes: number }>;
  /** By process name: RSS at the end of the window and its peak over the 1 s samples. */
  readonly memory: Record<string, { rssMiB: number; peakRssMiB: number }>;
  /** All CPUs of the machine, busy share of the window (100 = every core busy). */
  readonly machineBusyPercent: number;
  readonly machineStealPercent: number;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
