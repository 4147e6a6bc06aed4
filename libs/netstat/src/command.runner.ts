import { execFile } from 'node:child_process';
import type { ExecFileException } from 'node:child_process';

export interface CommandOptions {
  timeoutMs: number;
  /** Largest stdout (or stderr) accepted; more is an error, not a truncated listing. */
  maxBytes: number;
}

export interface CommandResult {
  stdout: string;
  exitCode: number;
  stderr: string;
}

/**
 * Runs a program with an argument vector (never through a shell). Resolves with the exit code,
 * whatever it is; rejects when the program cannot run or finish: `.code === 'ENOENT'` when it is
 * not installed, 'ETIMEDOUT' after timeoutMs, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' past maxBytes.
 */
export type CommandRunner = (file: string, args: string[], options: CommandOptions) => Promise<CommandResult>;

function timeoutError(file: string, timeoutMs: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${file} did not finish within ${timeoutMs} ms`);
  error.code = 'ETIMEDOUT';
  return error;
}

/** The default runner: child_process.execFile with LC_ALL=C, so netstat's headers are English. */
export const execFileRunner: CommandRunner = (file, args, { timeoutMs, maxBytes }) =>
  new Promise((resolve, reject) => {
    const options = {
      encoding: 'utf8' as const,
      timeout: timeoutMs,
      maxBuffer: maxBytes,
      windowsHide: true,
      env: { ...process.env, LC_ALL: 'C' },
    };
    execFile(file, args, options, (error: ExecFileException | null, stdout: string, stderr: string) => {
      if (error === null) {
        resolve({ stdout, exitCode: 0, stderr });
      } else if (typeof error.code === 'number') {
        resolve({ stdout, exitCode: error.code, stderr });
      } else if (error.killed && error.code == null) {
        reject(timeoutError(file, timeoutMs));
      } else {
        reject(error);
      }
    });
  });
