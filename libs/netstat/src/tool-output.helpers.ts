import { DomainError } from '@portolan/contracts/errors';
import type { ParseResult } from './socket-address';

/** How the tools are named in error messages. */
export type OutputTool = 'ss' | 'netstat (net-tools)' | 'netstat (Windows)' | 'tasklist';

export interface OutputLine {
  /** 1-based. */
  number: number;
  text: string;
}

const MAX_QUOTED = 120;
const DECIMAL = /^[0-9]+$/;
const MAX_PID = 2 ** 31;

/** Lines of tool output, numbered from 1; LF, CRLF and CR all end a line. */
export function outputLines(output: string): OutputLine[] {
  return output.split(/\r\n|\n|\r/).map((text, index) => ({ number: index + 1, text }));
}

/** The line as it appears in a message: at most ~120 characters, control characters escaped. */
export function quoteLine(text: string): string {
  const short = text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text;
  return JSON.stringify(short);
}

/** DomainError('invalid_output') naming the tool, the 1-based line number and the line. */
export function invalidLine(tool: OutputTool, line: OutputLine, reason: string): DomainError {
  return new DomainError('invalid_output', `${tool} output line ${line.number}: ${reason}: ${quoteLine(line.text)}`, {
    tool,
    line: line.number,
    text: line.text.slice(0, MAX_QUOTED),
  });
}

/** The value of a ParseResult, or DomainError('invalid_output') for the line it came from. */
export function valueOrThrow<T>(result: ParseResult<T>, tool: OutputTool, line: OutputLine): T {
  if (!result.ok) throw invalidLine(tool, line, result.reason);
  return result.value;
}

/** A process id: decimal, 0 to 2^31. */
export function parsePid(text: string): ParseResult<number> {
  if (!DECIMAL.test(text) || Number(text) > MAX_PID) return { ok: false, reason: `pid "${text}" is not a process id` };
  return { ok: true, value: Number(text) };
}

/** A queue length column (Recv-Q, Send-Q): a decimal count. */
export function checkCount(text: string, column: string): ParseResult<number> {
  if (!DECIMAL.test(text)) return { ok: false, reason: `${column} "${text}" is not a number` };
  return { ok: true, value: Number(text) };
}

/**
 * The first `count` whitespace-separated columns of a line and the rest of it (trimmed, possibly
 * empty), or null when the line has fewer columns. The rest keeps its inner spaces: process names
 * can contain them.
 */
export function splitColumns(text: string, count: number): { columns: string[]; rest: string } | null {
  const columns: string[] = [];
  let rest = text.trim();
  while (columns.length < count) {
    if (rest === '') return null;
    const match = /^(\S+)\s*/.exec(rest) as RegExpExecArray;
    columns.push(match[1]);
    rest = rest.slice(match[0].length);
  }
  return { columns, rest: rest.trimEnd() };
}
