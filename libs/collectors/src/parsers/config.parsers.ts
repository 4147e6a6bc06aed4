import { deviceLines } from './device-output';

/** One line of a device's configuration, within its section (the chain of parent lines). */
export interface ConfigLine {
  /** Parent lines joined by ` > ` (`interface GigabitEthernet0/1`), empty at the top level. */
  readonly section: string;
  readonly line: string;
}

/** The key of a configuration line item: its section and its text. */
export function configLineKey(line: ConfigLine): string {
  return line.section ? `${line.section} :: ${line.line}` : line.line;
}

export interface IndentedConfigOptions {
  /** Lines that change on their own (timestamps, counters): never items. */
  readonly volatile: readonly RegExp[];
  /** Lines that start with one of these are comments (`!` on IOS, `:` on ASA). */
  readonly commentPrefixes: readonly string[];
}

/**
 * An indented configuration (Cisco IOS / IOS-XE / ASA `show running-config`): a line starts a
 * section for the more indented lines under it. Comments, blank lines, the `Building
 * configuration` preamble, `end`, and the profile's volatile lines are left out; a line that
 * appears twice in one section is one item.
 */
export function parseIndentedConfig(output: string, options: IndentedConfigOptions): ConfigLine[] {
  const stack: { indent: number; text: string }[] = [];
  const out = new Map<string, ConfigLine>();
  for (const { text: raw } of deviceLines(output)) {
    const text = raw.replace(/\s+$/, '');
    const trimmed = text.trim();
    if (!trimmed || trimmed === 'end' || options.commentPrefixes.some((p) => trimmed.startsWith(p))) continue;
    if (/^Building configuration/i.test(trimmed) || /^Current configuration\s*:/i.test(trimmed)) continue;
    if (options.volatile.some((pattern) => pattern.test(trimmed))) continue;
    const indent = text.length - text.trimStart().length;
    while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
    const line: ConfigLine = { section: stack.map((s) => s.text).join(' > '), line: trimmed };
    out.set(configLineKey(line), line);
    stack.push({ indent, text: trimmed });
  }
  return [...out.values()];
}

/**
 * Junos `show configuration | display set`: every `set` statement is a line, in the section of
 * its first keyword (`system`, `interfaces`, `firewall`). Comments and volatile lines are left out.
 */
export function parseJunosSetConfig(output: string, volatile: readonly RegExp[]): ConfigLine[] {
  const out = new Map<string, ConfigLine>();
  for (const { text } of deviceLines(output)) {
    const trimmed = text.trim();
    if (!trimmed.startsWith('set ') && !trimmed.startsWith('deactivate ')) continue;
    if (volatile.some((pattern) => pattern.test(trimmed))) continue;
    const line: ConfigLine = { section: trimmed.split(/\s+/)[1] ?? '', line: trimmed.replace(/\s+/g, ' ') };
    out.set(configLineKey(line), line);
  }
  return [...out.values()];
}
