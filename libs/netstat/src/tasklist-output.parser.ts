import { invalidLine, outputLines, parsePid, valueOrThrow } from './tool-output.helpers';

const TOOL = 'tasklist';
/**
 * A line of `tasklist /FO CSV /NH`: every field quoted, image name first and PID second, then the
 * session name, session number and memory, which a localised Windows translates and formats in
 * its own way (`"Dienste"`, `"12.476 K"`) and which are not read.
 */
const LINE = /^"([^"]*)","([^"]*)"(?:,"[^"]*")*$/;

/**
 * Process names by pid out of Windows `tasklist /FO CSV /NH` (`"svchost.exe","904",...`). Throws
 * DomainError('invalid_output') naming the line for a line that is not such a row, and for output
 * without any (tasklist always lists System, pid 4).
 */
export function parseTasklistOutput(output: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of outputLines(output)) {
    const text = line.text.trim();
    if (text === '') continue;
    const match = LINE.exec(text);
    if (!match) throw invalidLine(TOOL, line, 'expected a row of quoted fields, image name then PID ("svchost.exe","904",...)');
    const [, name, pidText] = match;
    const pid = valueOrThrow(parsePid(pidText), TOOL, line);
    if (name.trim() === '') throw invalidLine(TOOL, line, 'empty image name');
    names.set(pid, name);
  }
  if (!names.size) throw invalidLine(TOOL, { number: 1, text: output.slice(0, 120) }, 'no process listed (tasklist lists at least the System process)');
  return names;
}
