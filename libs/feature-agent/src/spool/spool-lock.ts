import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { errorCode, ignoreEnoent } from './durable-fs';

/**
 * Who holds a spool's lock. A pid alone does not say: after a reboot, a container restart or on
 * a machine cloned from an image, the pid a lock names may be another process now, or this very
 * process (containers start the agent with the same pid every time). So the lock also names the
 * kernel's boot (Linux `boot_id`: another one after a reboot and on another machine) and when the
 * process started (in clock ticks since that boot), where the system tells them.
 */
export interface LockHolder {
  readonly pid: number;
  readonly bootId?: string;
  readonly startTicks?: string;
}

/** The lock file's text for a process (this one unless said): its pid on the first line (what older agents wrote and read), then what tells it apart. */
export function lockText(pid = process.pid): string {
  const boot = machineBootId();
  const start = processStartTicks(pid);
  return `${pid}\n${boot ? `boot=${boot}\n` : ''}${start ? `start=${start}\n` : ''}`;
}

/** The holder a lock file names; undefined when there is none or it is unreadable (a lock anyone may take over). */
export async function readLock(path: string): Promise<LockHolder | undefined> {
  const text = await readFile(path, 'utf8').catch(ignoreEnoent);
  return text === undefined ? undefined : parseLock(text);
}

export function parseLock(text: string): LockHolder | undefined {
  const [first, ...rest] = text.split('\n');
  if (!/^\d{1,10}$/.test(first)) return undefined;
  const pid = Number(first);
  if (pid <= 0 || pid > 0x7fffffff) return undefined; // never 0: kill(0) means our own group
  const fields = new Map(rest.filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
  const bootId = fields.get('boot');
  const startTicks = fields.get('start');
  return { pid, ...(bootId ? { bootId } : {}), ...(startTicks ? { startTicks } : {}) };
}

/**
 * Whether the lock's holder is still running: its pid is alive, on this boot of this machine, and
 * is the process that wrote the lock. A lock written before a reboot or on another machine, or
 * whose pid now names a process that started at another time, is stale; so is a lock without
 * those facts (an older agent's) that names this process's own pid.
 */
export function holderRunning(holder: LockHolder, system: LockSystem = LOCAL_SYSTEM): boolean {
  if (!system.isAlive(holder.pid)) return false;
  const boot = system.bootId();
  if (holder.bootId && boot && holder.bootId !== boot) return false;
  const start = system.startTicks(holder.pid);
  if (holder.startTicks && start && holder.startTicks !== start) return false;
  if (!holder.bootId && !holder.startTicks && holder.pid === system.ownPid) return false;
  return true;
}

/** What `holderRunning` asks of the system (a parameter for the tests). */
export interface LockSystem {
  readonly ownPid: number;
  isAlive(pid: number): boolean;
  bootId(): string | undefined;
  startTicks(pid: number): string | undefined;
}

const LOCAL_SYSTEM: LockSystem = { ownPid: process.pid, isAlive, bootId: machineBootId, startTicks: processStartTicks };

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
