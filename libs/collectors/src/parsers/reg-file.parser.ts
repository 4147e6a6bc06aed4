import { DomainError } from '@portolan/contracts/errors';

/** One registry value as a `.reg` export shows it. */
export interface RegistryValue {
  /** The key path as exported (`HKLM\SYSTEM\...`). */
  readonly key: string;
  /** The value name; `@` is the key's default value. */
  readonly name: string;
  readonly type: 'REG_SZ' | 'REG_DWORD' | 'REG_QWORD' | 'REG_EXPAND_SZ' | 'REG_MULTI_SZ' | 'REG_BINARY' | 'REG_NONE';
  /** Strings as text, DWORD/QWORD as numbers, multi-strings joined by `\n`, binary as hex. */
  readonly value: string | number;
}

const HEX_TYPES: Record<string, RegistryValue['type']> = { '0': 'REG_NONE', '2': 'REG_EXPAND_SZ', '3': 'REG_BINARY', '7': 'REG_MULTI_SZ', b: 'REG_QWORD' };

/**
 * A `.reg` export (`Windows Registry Editor Version 5.00` or `REGEDIT4`), as Samba's
 * `net rpc registry export` writes it: `[key]` sections, `"name"=` values (quoted strings with
 * `\\` and `\"` escapes, `dword:`, `hex(n):` with `\` line continuations), `;` comments. A line
 * it cannot read is an error naming it.
 */
export function parseRegFile(text: string): RegistryValue[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const values: RegistryValue[] = [];
  let key: string | undefined;
  for (let i = 0; i < lines.length; i += 1) {
    let line = lines[i];
    const number = i + 1;
    if (!line.trim() || line.startsWith(';') || /^(Windows Registry Editor Version|REGEDIT4)/.test(line)) continue;
    if (line.startsWith('[')) {
      if (!line.trimEnd().endsWith(']')) throw bad(number, line, 'a key line ends with "]"');
      key = line.trim().slice(1, -1);
      continue;
    }
    while (line.endsWith('\\') && /=hex/.test(line) && i + 1 < lines.length) line = line.slice(0, -1) + lines[++i].trim();
    if (!key) throw bad(number, line, 'a value before any [key]');
    const { name, rest } = valueName(line, number);
    values.push({ key, name, ...valueData(rest, number, line) });
  }
  return values;
}

function valueName(line: string, number: number): { name: string; rest: string } {
  if (line.startsWith('@=')) return { name: '@', rest: line.slice(2) };
  if (!line.startsWith('"')) throw bad(number, line, 'a value line starts with "name"= or @=');
  const { text, end } = quoted(line, 0, number);
  if (line[end] !== '=') throw bad(number, line, 'expected = after the value name');
  return { name: text, rest: line.slice(end + 1) };
}

function valueData(rest: string, number: number, line: string): Pick<RegistryValue, 'type' | 'value'> {
  if (rest.startsWith('"')) return { type: 'REG_SZ', value: quoted(rest, 0, number).text };
  const dword = /^dword:([0-9a-fA-F]{8})$/.exec(rest);
  if (dword) return { type: 'REG_DWORD', value: parseInt(dword[1], 16) };
  const hex = /^hex(?:\(([0-9a-fA-F]+)\))?:([0-9a-fA-F,\s]*)$/.exec(rest);
  if (!hex) throw bad(number, line, 'unknown value data (expected "text", dword: or hex:)');
  const bytes = Buffer.from(hex[2].replace(/[\s,]/g, ''), 'hex');
  const type = hex[1] === undefined ? 'REG_BINARY' : (HEX_TYPES[hex[1].toLowerCase()] ?? 'REG_BINARY');
  if (type === 'REG_QWORD') return { type, value: bytes.length === 8 ? Number(bytes.readBigUInt64LE()) : bytes.toString('hex') };
  if (type === 'REG_EXPAND_SZ') return { type, value: utf16(bytes).replace(/\u0000+$/, '') };
  if (type === 'REG_MULTI_SZ') return { type, value: utf16(bytes).replace(/\u0000+$/, '').split('\u0000').join('\n') };
  return { type, value: bytes.toString('hex') };
}

function utf16(bytes: Buffer): string {
  return bytes.subarray(0, bytes.length - (bytes.length % 2)).toString('utf16le');
}

/** A `"..."` string from `start`, with `\\` and `\"` escapes; returns the text and the index after the closing quote. */
function quoted(line: string, start: number, number: number): { text: string; end: number } {
  let text = '';
  for (let i = start + 1; i < line.length; i += 1) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      text += line[++i];
      continue;
    }
    if (c === '"') return { text, end: i + 1 };
    text += c;
  }
  throw bad(number, line, 'an unterminated quoted string');
}

function bad(number: number, line: string, reason: string): DomainError {
  return new DomainError('invalid_output', `registry export line ${number}: ${reason}: ${JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}…` : line)}`, { line: number });
}
