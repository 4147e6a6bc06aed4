import { release } from 'node:os';
import { DomainError } from '@portolan/contracts/errors';
import type { CommandRunner } from './command.runner';
import { execFileRunner } from './command.runner';
import type { ListeningSocket } from './listening-socket.model';
import { parseLinuxNetstatOutput } from './netstat-linux-output.parser';
import { parseWindowsNetstatOutput } from './netstat-windows-output.parser';
import { parseSsOutput } from './ss-output.parser';
import { parseTasklistOutput } from './tasklist-output.parser';

export interface CollectListeningSocketsOptions {
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Per command; default 10 s. */
  timeoutMs?: number;
  /** Defaults to execFileRunner (child_process.execFile, no shell). */
  run?: CommandRunner;
}

export interface ListeningSocketsScan {
  tool: 'ss' | 'netstat';
  /** First line of `ss -V` / `netstat --version`, or 'unknown'. */
  toolVersion: string;
  args: string[];
  sockets: ListeningSocket[];
}

/** A program run for its listing. */
interface Command {
  tool: string;
  /** For messages: `ss (iproute2)`. */
  label: string;
  args: string[];
}

interface Tool extends Command {
  tool: 'ss' | 'netstat';
  versionArgs: string[] | null;
  parse: (output: string) => ListeningSocket[];
}

const SS: Tool = { tool: 'ss', label: 'ss (iproute2)', args: ['-tulpnH'], versionArgs: ['-V'], parse: parseSsOutput };
const NETSTAT_LINUX: Tool = {
  tool: 'netstat',
  label: 'netstat (net-tools)',
  args: ['-tulpnW'],
  versionArgs: ['--version'],
  parse: parseLinuxNetstatOutput,
};
const NETSTAT_WINDOWS: Tool = { tool: 'netstat', label: 'netstat', args: ['-ano'], versionArgs: null, parse: parseWindowsNetstatOutput };
/** Windows netstat shows pids only (names need -b and elevation); tasklist names them. */
const TASKLIST: Command = { tool: 'tasklist', label: 'tasklist', args: ['/FO', 'CSV', '/NH'] };

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
const VERSION_TIMEOUT_MS = 5_000;
const MAX_QUOTED = 120;

/** A tool that produced a listing, or why it could not (missing, or a non-zero exit). */
type Attempt = { ok: true; stdout: string } | { ok: false; reason: string; missing: boolean };

function commandLine(tool: Command): string {
  return [tool.tool, ...tool.args].join(' ');
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  return line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED)}…` : line;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * Run one tool. A missing program or a non-zero exit is an Attempt that failed (the caller may
 * try another tool); a timeout or any other failure to run is DomainError('scan_failed').
 */
async function attempt(tool: Command, run: CommandRunner, timeoutMs: number): Promise<Attempt> {
  let result;
  try {
    result = await run(tool.tool, tool.args, { timeoutMs, maxBytes: MAX_OUTPUT_BYTES });
  } catch (error) {
    if (isMissing(error)) return { ok: false, reason: `${tool.label} is not installed (${tool.tool} not found on PATH)`, missing: true };
    const message = error instanceof Error ? error.message : String(error);
    throw new DomainError('scan_failed', `${commandLine(tool)} failed: ${message}`, { tool: tool.tool, args: tool.args });
  }
  if (result.exitCode === 0) return { ok: true, stdout: result.stdout };
  const stderr = firstLine(result.stderr);
  return { ok: false, reason: `${commandLine(tool)} exited with code ${result.exitCode}${stderr === '' ? '' : `: ${stderr}`}`, missing: false };
}

/** Best effort: the first line the tool prints for its version, or 'unknown'. Never throws. */
async function versionOf(tool: Tool, run: CommandRunner, timeoutMs: number): Promise<string> {
  if (tool.versionArgs === null) {
    // Windows netstat has no version switch; the OS build identifies it.
    return process.platform === 'win32' ? `Windows ${release()}` : 'unknown';
  }
  try {
    const result = await run(tool.tool, tool.versionArgs, { timeoutMs: Math.min(timeoutMs, VERSION_TIMEOUT_MS), maxBytes: 64 * 1024 });
    const line = result.exitCode === 0 ? firstLine(result.stdout) : '';
    return line === '' ? 'unknown' : line;
  } catch {
    return 'unknown';
  }
}

async function scanWith(tool: Tool, stdout: string, run: CommandRunner, timeoutMs: number): Promise<ListeningSocketsScan> {
  const sockets = tool.parse(stdout);
  return { tool: tool.tool, toolVersion: await versionOf(tool, run, timeoutMs), args: [...tool.args], sockets };
}

/**
 * The names of the processes by pid, from `tasklist`; undefined where tasklist is not installed
 * (every socket then stays unnamed, at every scan). Any other failure fails the scan: a scan whose
 * sockets lost their names would report each of them as modified.
 */
async function processNames(run: CommandRunner, timeoutMs: number): Promise<Map<number, string> | undefined> {
  const result = await attempt(TASKLIST, run, timeoutMs);
  if (!result.ok && result.missing) return undefined;
  if (!result.ok) throw new DomainError('scan_failed', `cannot name the processes of the listening sockets: ${result.reason}`, { tool: TASKLIST.tool, args: TASKLIST.args });
  return parseTasklistOutput(result.stdout);
}

/**
 * The sockets with the names of their processes, from tasklist run after netstat, else from the
 * run before it: a process that ended in between, or began, is named all the same, so that its
 * port is not reported unnamed once and named again at the next scan.
 */
function named(sockets: ListeningSocket[], after: Map<number, string> | undefined, before: Map<number, string> | undefined): ListeningSocket[] {
  if (!after || !before) return sockets;
  return sockets.map((socket) => {
    const name = socket.pid === undefined ? undefined : (after.get(socket.pid) ?? before.get(socket.pid));
    return name === undefined ? socket : { ...socket, process: name };
  });
}

function unavailable(message: string, reasons: string[]): DomainError {
  return new DomainError('engine_unavailable', message, { reasons });
}

/**
 * The sockets listening on this host, from the platform's own tool: on Linux `ss -tulpnH`, or
 * `netstat -tulpnW` when ss is missing or fails; on Windows `netstat -ano`, with `tasklist /FO CSV
 * /NH` before and after it for the processes' names. Throws DomainError('engine_unavailable') when no tool can produce
 * a listing (and on other platforms), 'scan_failed' when a tool times out (or tasklist fails), and
 * 'invalid_output' when its output cannot be read.
 */
export async function collectListeningSockets(options: CollectListeningSocketsOptions = {}): Promise<ListeningSocketsScan> {
  const platform = options.platform ?? process.platform;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const run = options.run ?? execFileRunner;

  if (platform === 'win32') {
    const before = await processNames(run, timeoutMs);
    const result = await attempt(NETSTAT_WINDOWS, run, timeoutMs);
    if (!result.ok) throw unavailable(`cannot list listening sockets: ${result.reason}`, [result.reason]);
    const scan = await scanWith(NETSTAT_WINDOWS, result.stdout, run, timeoutMs);
    const after = before && (await processNames(run, timeoutMs));
    return { ...scan, sockets: named(scan.sockets, after, before) };
  }
  if (platform !== 'linux') {
    throw unavailable(`listing listening sockets is supported on Linux (ss or netstat) and Windows (netstat), not on ${platform}`, []);
  }
  const ss = await attempt(SS, run, timeoutMs);
  if (ss.ok) return scanWith(SS, ss.stdout, run, timeoutMs);
  const netstat = await attempt(NETSTAT_LINUX, run, timeoutMs);
  if (netstat.ok) return scanWith(NETSTAT_LINUX, netstat.stdout, run, timeoutMs);
  throw unavailable(`cannot list listening sockets: ${ss.reason}; ${netstat.reason}`, [ss.reason, netstat.reason]);
}
