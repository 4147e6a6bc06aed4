import type { CommandOptions, CommandResult, CommandRunner } from '../command.runner';

/** What a command does in a fake: print and exit, or fail to run (`ENOENT`, `ETIMEDOUT`). */
export type FakeOutcome = Partial<CommandResult> | { errorCode: string };

export interface FakeRunner {
  run: CommandRunner;
  /** Every call, as `file args...` with its options. */
  calls: Array<{ command: string; options: CommandOptions }>;
}

/**
 * A CommandRunner answering from a table keyed by `file args...`: one outcome for every run of
 * the command, or a list taken in turn (the last repeated). A command not in the table is
 * missing from the system (rejects with code ENOENT), like an uninstalled tool.
 */
export function fakeRunner(table: Record<string, FakeOutcome | FakeOutcome[]>): FakeRunner {
  const calls: FakeRunner['calls'] = [];
  const run: CommandRunner = async (file, args, options) => {
    const command = [file, ...args].join(' ');
    const runs = calls.filter((c) => c.command === command).length;
    calls.push({ command, options });
    const entry = table[command];
    const outcome = (Array.isArray(entry) ? entry[Math.min(runs, entry.length - 1)] : entry) ?? { errorCode: 'ENOENT' };
    if ('errorCode' in outcome) {
      const error: NodeJS.ErrnoException = new Error(`${file}: ${outcome.errorCode}`);
      error.code = outcome.errorCode;
      throw error;
    }
    return { stdout: '', stderr: '', exitCode: 0, ...outcome };
  };
  return { run, calls };
}
