import type { Duplex } from 'node:stream';
import { DomainError } from '@portolan/contracts/errors';

/** A command-line prompt at the very end of the output: `rtr1>`, `rtr1#`, `asa(config)#`, `ops@mx1> `, `$ `. */
const PROMPT = /(?:^|[\r\n])([^\r\n]{0,120}?[>#$%]) ?$/;
/**
 * How long a prompt must stay last (no more output) to count, until the prompt is known: a
 * banner line cut after a `#` or `>` by a packet boundary does not stay last that long.
 */
const SETTLE_MS = 60;
/** Output kept while waiting; a device that talks more than this without a prompt is refused. */
const MAX_BUFFER = 64 * 1024 * 1024;
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]|\u001b[()][A-Z0-9]|\u0007/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class CliTimeoutError extends DomainError {
  constructor(what: string, ms: number, tail: string) {
    super('scan_failed', `${what}: no answer within ${ms} ms (last output: ${JSON.stringify(tail.slice(-160))})`, { reason: 'timeout' });
  }
}

/**
 * A conversation with a device's command line over a text stream (an SSH shell channel, a
 * Telnet connection): wait for one of several patterns, send a line, run a command and read its
 * output up to the next prompt. Output is kept as text without terminal control sequences; the
 * echo of each command and the closing prompt are cut from what `run` returns. Bounded in time
 * (every wait has a timeout) and in size.
 */
export class CliSession {
  private buffer = '';
  private waiter?: () => void;
  private closed = false;

  constructor(private readonly stream: Duplex) {
    stream.setEncoding?.('utf8');
    stream.on('data', (chunk: Buffer | string) => {
      this.buffer += String(chunk).replace(ANSI, '');
      if (this.buffer.length > MAX_BUFFER) this.buffer = this.buffer.slice(-MAX_BUFFER);
      this.waiter?.();
    });
    const end = () => {
      this.closed = true;
      this.waiter?.();
    };
    stream.on('close', end);
    stream.on('end', end);
    stream.on('error', end);
  }

  /** The prompt the device showed last (learned by `waitForPrompt`). */
  prompt = '';

  send(line: string): void {
    if (!this.closed) this.stream.write(`${line}\r\n`);
  }

  /** Sends a secret: the same as `send`, kept apart so no caller is tempted to log it. */
  sendSecret(secret: string): void {
    this.send(secret);
  }

  /**
   * Waits until the output ends with one of `patterns` (tested against the whole output since
   * the last wait), then returns which one and the output before the match; the output is used up.
   */
  async expect(patterns: readonly RegExp[], timeoutMs: number, what: string): Promise<{ index: number; output: string; match: RegExpExecArray }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let index = 0; index < patterns.length; index += 1) {
        const match = patterns[index].exec(this.buffer);
        if (match) {
          const output = this.buffer.slice(0, match.index);
          this.buffer = this.buffer.slice(match.index + match[0].length);
          return { index, output, match };
        }
      }
      if (this.closed) throw new DomainError('scan_failed', `${what}: the device closed the connection (last output: ${JSON.stringify(this.buffer.slice(-160))})`, { reason: 'closed' });
      const left = deadline - Date.now();
      if (left <= 0) throw new CliTimeoutError(what, timeoutMs, this.buffer);
      await this.more(left);
    }
  }

  /**
   * Waits for a prompt that stays last for a moment, and learns it. Returns the output before it
   * (banners, MOTD). When the output matches one of `failures` first (a refused login), throws
   * `onFailure(index)` at once.
   */
  async waitForPrompt(timeoutMs: number, what = 'waiting for the prompt', failures: readonly RegExp[] = [], onFailure?: (index: number) => Error): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (Date.now() > deadline) throw new CliTimeoutError(what, timeoutMs, this.buffer);
      const failed = failures.findIndex((pattern) => pattern.test(this.buffer));
      const match = PROMPT.exec(this.buffer);
      if (failed >= 0 || match) {
        // Either must stay last for a moment: more output means it was not the end after all.
        const length = this.buffer.length;
        await this.more(SETTLE_MS);
        if (this.buffer.length !== length) continue;
        if (failed >= 0) throw onFailure ? onFailure(failed) : new DomainError('scan_failed', `${what}: refused`, { reason: 'refused' });
        this.prompt = match![1].trim();
        const output = this.buffer.slice(0, match!.index);
        this.buffer = '';
        return output;
      }
      if (this.closed) throw new DomainError('scan_failed', `${what}: the device closed the connection (last output: ${JSON.stringify(this.buffer.slice(-160))})`, { reason: 'closed' });
      const left = deadline - Date.now();
      if (left <= 0) throw new CliTimeoutError(what, timeoutMs, this.buffer);
      await this.more(left);
    }
  }

  /**
   * Runs a command and returns its output: the echoed command and the prompt that follows are
   * cut. Once the prompt is known, the output ends where that exact prompt starts a line and ends
   * the output (no settling wait); before, at the first prompt that stays last.
   */
  async run(command: string, timeoutMs: number): Promise<string> {
    this.buffer = '';
    this.send(command);
    const raw = this.prompt
      ? (await this.expect([new RegExp(`(?:^|[\\r\\n])${escapeRegExp(this.prompt)} ?$`)], timeoutMs, `"${command}"`)).output
      : await this.waitForPrompt(timeoutMs, `"${command}"`);
    const lines = raw.split(/\r?\n/);
    if (lines.length && lines[0].trim().endsWith(command.trim())) lines.shift();
    return lines.join('\n').replace(/\r/g, '').replace(/\n+$/, '');
  }

  private more(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const waiter = () => done();
      this.waiter = waiter;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    }).then(() => {
      this.waiter = undefined;
    });
  }
}
