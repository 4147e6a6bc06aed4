import { spawn } from 'node:child_process';
import { NmapXmlFastReader } from './nmap-xml.fast-reader';
import { NmapXmlError } from './nmap-xml.types';
import type { NmapRunInfo, NmapRunSummary, NmapXmlHandlers } from './nmap-xml.types';
import { cancelled, MAX_TIMER_MS, scanFailed, timedOut } from './scan-failure';

export interface NmapRunOptions {
  /** Whole-run limit: SIGTERM when it elapses, SIGKILL killGraceMs later. */
  timeoutMs: number;
  signal?: AbortSignal;
  killGraceMs?: number;
  /** How much of stderr to keep (the tail) for error messages. */
  stderrLimit?: number;
  handlers?: NmapXmlHandlers;
}

export interface NmapRunResult {
  info: NmapRunInfo | null;
  summary: NmapRunSummary | null;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  /** The last `stderrLimit` characters nmap wrote to stderr. */
  stderr: string;
  /** Set when stdout was not a complete nmap XML document. */
  parseError: NmapXmlError | null;
  hostsSeen: number;
}

const DEFAULT_KILL_GRACE_MS = 2000;
const DEFAULT_STDERR_LIMIT = 16 * 1024;
/** After SIGKILL, how long to wait for the exit event before giving up on it. */
const EXIT_WAIT_AFTER_KILL_MS = 1000;

/**
 * Runs nmap once (spawn, never a shell), streaming stdout through NmapXmlFastReader. Rejects
 * for timeout, cancellation, a failure to start, malformed XML or a throwing handler, always
 * after nmap has been stopped; otherwise resolves with what nmap said and leaves judging it to
 * the caller. The child is not detached, so it is signalled by its own pid.
 */
export function runNmap(path: string, args: string[], options: NmapRunOptions): Promise<NmapRunResult> {
  const { signal, timeoutMs } = options;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const stderrLimit = options.stderrLimit ?? DEFAULT_STDERR_LIMIT;

  return new Promise<NmapRunResult>((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled('nmap'));
      return;
    }
    let info: NmapRunInfo | null = null;
    const handlers = options.handlers ?? {};
    const reader = new NmapXmlFastReader({
      ...handlers,
      onRunInfo: (runInfo) => {
        info = runInfo;
        handlers.onRunInfo?.(runInfo);
      },
    });
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    let stderr = '';
    let stopReason: Error | null = null;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const cleanup = (): void => {
      timers.forEach(clearTimeout);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      reject(error);
    };
    const stop = (reason: Error): void => {
      if (stopReason !== null || settled) return;
      stopReason = reason;
      child.kill('SIGTERM');
      timers.push(
        setTimeout(() => {
          child.kill('SIGKILL');
          timers.push(setTimeout(() => fail(reason), EXIT_WAIT_AFTER_KILL_MS));
        }, killGraceMs),
      );
    };
    function onAbort(): void {
      stop(cancelled('nmap'));
    }

    timers.push(setTimeout(() => stop(timedOut('nmap', timeoutMs)), Math.min(timeoutMs, MAX_TIMER_MS)));
    signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (chunk: Buffer) => {
      if (stopReason !== null) return;
      try {
        reader.write(chunk);
      } catch (error) {
        stop(
          error instanceof NmapXmlError
            ? scanFailed('malformed_output', `nmap wrote output that is not valid nmap XML: ${error.message}`)
            : (error as Error),
        );
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-stderrLimit);
    });
    child.on('error', (error) => {
      // Raised when the binary cannot be started; a failed kill() also lands here and is moot.
      if (child.pid === undefined) {
        fail(scanFailed('spawn_failed', `Could not start nmap at ${path}: ${error.message}`, { path }));
      }
    });
    child.on('exit', () => {
      // Anything still holding the pipes (a grandchild) must not keep a stopped run alive.
      if (stopReason !== null) {
        child.stdout.destroy();
        child.stderr.destroy();
      }
    });
    child.on('close', (exitCode, exitSignal) => {
      if (stopReason !== null) {
        fail(stopReason);
        return;
      }
      if (settled) return;
      let parseError: NmapXmlError | null = null;
      try {
        reader.end();
      } catch (error) {
        if (!(error instanceof NmapXmlError)) {
          fail(error as Error);
          return;
        }
        parseError = error;
      }
      settled = true;
      cleanup();
      resolve({
        info,
        summary: reader.finished,
        exitCode,
        exitSignal,
        stderr,
        parseError,
        hostsSeen: reader.hostsSeen,
      });
    });
  });
}
