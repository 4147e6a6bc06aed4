import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { uptime } from 'node:os';
import { basename } from 'node:path';
import { errorCode, ignoreEnoent } from './durable-fs';

/**
 * Who holds a spool's lock. A pid alone does not say: after a reboot, a container restart or on
 * a machine cloned from an image, the pid a lock names may be another process now, or this very
 * process (containers start the agent with the same pid every time). So the lock also names the
 * kernel's boot (Linux `boot_id`: another one after a reboot and on another machine), the pid
 * namespace the pid belongs to (another one in another container), and when the process started
 * (in clock ticks since that boot), where the system tells them. Windows tells none of these
 * cheaply: there the lock names the program the process runs (`node.exe`, or the agent's own
 * executable), and a pid that runs another program now, its lock no longer touched, is another
 * process (Windows hands pids out again soon); one that runs the same program is judged by the
 * touches. The holder touches the lock every `LOCK_REFRESH_MS`, so a holder in another
 * pid namespace, whose pid means nothing here, is judged by that.
 */
export interface LockHolder {
  readonly pid: number;
  readonly bootId?: string;
  readonly pidNamespace?: string;
  readonly startTicks?: string;
  /** Windows: the image (program file name) the holder ran. */
  readonly image?: string;
}

/** How often the holder touches its lock, and how long after the last touch a lock of another pid namespace is stale. */
export const LOCK_REFRESH_MS = 10_000;
export const LOCK_STALE_MS = 35_000;
export interface LockTiming {
  readonly refreshMs: number;
  readonly staleMs: number;
}
export const LOCK_TIMING: LockTiming = { refreshMs: LOCK_REFRESH_MS, staleMs: LOCK_STALE_MS };

/** The lock file's text for a process (this one unless said): its pid on the first line (what older agents wrote and read), then what tells it apart. */
export function lockText(pid = process.pid): string {
  const facts: [string, string | undefined][] = [
    ['boot', machineBootId()],
    ['pidns', pid === process.pid ? ownPidNamespace() : undefined],
    ['start', processStartTicks(pid)],
    ['image', pid === process.pid && process.platform === 'win32' ? ownImage() : undefined],
  ];
  return `${pid}\n${facts.map(([key, value]) => (value ? `${key}=${value}\n` : '')).join('')}`;
}

/** The holder a lock file names, and when it was last touched; undefined when there is none, or it is unreadable (a lock anyone may take over). */
export async function readLock(path: string): Promise<{ holder: LockHolder; touchedAtMs: number } | undefined> {
  const [text, stats] = await Promise.all([readFile(path, 'utf8').catch(ignoreEnoent), stat(path).catch(ignoreEnoent)]);
  const holder = text === undefined ? undefined : parseLock(text);
  return holder && stats ? { holder, touchedAtMs: stats.mtimeMs } : undefined;
}

export function parseLock(text: string): LockHolder | undefined {
  const [first, ...rest] = text.split('\n');
  if (!/^\d{1,10}$/.test(first)) return undefined;
  const pid = Number(first);
  if (pid <= 0 || pid > 0x7fffffff) return undefined; // never 0: kill(0) means our own group
  const fields = new Map(rest.filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
  const holder: { -readonly [K in keyof LockHolder]: LockHolder[K] } = { pid };
  if (fields.get('boot')) holder.bootId = fields.get('boot');
  if (fields.get('pidns')) holder.pidNamespace = fields.get('pidns');
  if (fields.get('start')) holder.startTicks = fields.get('start');
  if (fields.get('image')) holder.image = fields.get('image');
  return holder;
}

/**
 * Whether the lock's holder is still running. `stale` when the lock was written on another boot
 * or machine, or before this boot (an older agent's lock says no boot). A holder in another pid
 * namespace (another container on this host, or this container before it restarted) is
 * `elsewhere` while it keeps touching the lock: it runs if it touches it again. Otherwise its pid
 * must be alive and have started when the lock says; a lock naming this process's own pid is
 * this process's only if the start times say so (else it is an earlier process's: a restarted
 * container).
 */
export function holderState(holder: LockHolder, touchedAtMs: number, system: LockSystem = LOCAL_SYSTEM, staleMs = LOCK_STALE_MS): 'running' | 'stale' | 'elsewhere' {
  const boot = system.bootId();
  if (holder.bootId && boot && holder.bootId !== boot) return 'stale';
  const bootedAtMs = system.bootedAtMs();
  if (bootedAtMs !== undefined && touchedAtMs < bootedAtMs) return 'stale';
  const namespace = system.pidNamespace();
  if (holder.pidNamespace && namespace && holder.pidNamespace !== namespace) return system.nowMs() - touchedAtMs < staleMs ? 'elsewhere' : 'stale';
  if (!system.isAlive(holder.pid)) return 'stale';
  const image = holder.image && system.imageName(holder.pid);
  if (holder.image && image) {
    const untouchedMs = system.nowMs() - touchedAtMs;
    // One program may go by two names (a short 8.3 path): another name frees the lock only once its holder has stopped touching it too.
    if (holder.image.toLowerCase() !== image.toLowerCase()) return untouchedMs >= staleMs ? 'stale' : 'running';
    // The same program under the pid (another node.exe got it) is judged by the touches it would make if it held the lock.
    if (untouchedMs >= 3 * staleMs) return 'stale';
  }
  const start = system.startTicks(holder.pid);
  if (holder.startTicks && start && holder.startTicks !== start) return 'stale';
  if (holder.pid === system.ownPid && !(holder.startTicks && start)) return 'stale';
  return 'running';
}

/** What `holderRunning` asks of the system (a parameter for the tests). */
export interface LockSystem {
  readonly ownPid: number;
  nowMs(): number;
  isAlive(pid: number): boolean;
  bootId(): string | undefined;
  /** When this boot of the machine began, ms since 1970. */
  bootedAtMs(): number | undefined;
  pidNamespace(): string | undefined;
  startTicks(pid: number): string | undefined;
  /** The image a running process runs (Windows); undefined elsewhere or when it cannot be told. */
  imageName(pid: number): string | undefined;
}

const LOCAL_SYSTEM: LockSystem = {
  ownPid: process.pid,
  nowMs: () => Date.now(),
  isAlive,
  bootId: machineBootId,
  bootedAtMs: machineBootedAtMs,
  pidNamespace: ownPidNamespace,
  startTicks: processStartTicks,
  imageName: processImageName,
};

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM'; // alive, owned by another user; ESRCH: gone
  }
}

/** This boot of this machine's kernel (Linux); undefined elsewhere. */
function machineBootId(): string | undefined {
  return readSmall('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** How much earlier than the uptime says a boot is taken to have begun: the clock and the uptime are read apart, and a lock is written minutes after a boot at the soonest. */
const BOOT_TIME_SLACK_MS = 60_000;

/**
 * When this boot began, in ms since 1970: `btime` of Linux `/proc/stat`; elsewhere (Windows) now
 * less the uptime, less a minute's slack. A lock last touched before it was left by a process of
 * an earlier boot, whatever its pid names now.
 */
function machineBootedAtMs(): number | undefined {
  if (process.platform !== 'linux') return Date.now() - uptime() * 1000 - BOOT_TIME_SLACK_MS;
  const btime = /^btime (\d+)$/m.exec(readSmall('/proc/stat') ?? '')?.[1];
  return btime ? Number(btime) * 1000 : undefined;
}

/** The program this process runs, by its long name (as tasklist names it), not an 8.3 short one it may have been started by. */
function ownImage(): string {
  try {
    return basename(realpathSync.native(process.execPath));
  } catch {
    return basename(process.execPath);
  }
}

/** The image a process runs, from Windows `tasklist` (a few hundred ms; asked only of a lock that names a live pid); undefined elsewhere or when it cannot be told. */
function processImageName(pid: number): string | undefined {
  if (process.platform !== 'win32') return undefined;
  try {
    return tasklistImage(execFileSync('tasklist', ['/FI', `PID eq ${pid}`, '/FO', 'CSV', '/NH'], { encoding: 'utf8', timeout: 10_000, windowsHide: true }), pid);
  } catch {
    return undefined;
  }
}

/** The image of `pid` in `tasklist /FO CSV /NH` output (`"node.exe","4732","Services","0","45,124 K"`); undefined when no row names it (its "no tasks" line is localised). */
export function tasklistImage(output: string, pid: number): string | undefined {
  for (const line of output.split(/\r?\n/)) {
    const fields = /^"([^"]*)","(\d+)"/.exec(line.trim());
    if (fields && Number(fields[2]) === pid) return fields[1] || undefined;
  }
  return undefined;
}

/** This process's pid namespace (Linux: `pid:[4026531836]`); undefined elsewhere. */
function ownPidNamespace(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** When the process started, in clock ticks since boot (field 22 of Linux `/proc/PID/stat`); undefined elsewhere or when it is gone. */
function processStartTicks(pid: number): string | undefined {
  const stat = readSmall(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[22 - 3];
  return start && /^\d+$/.test(start) ? start : undefined;
}

function readSmall(path: string): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
