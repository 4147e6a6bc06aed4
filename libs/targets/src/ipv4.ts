import { DomainError } from '@portolan/contracts/errors';

/** Outcome of a non-throwing parse: the value, or a reason a person can act on. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export const IPV4_MAX = 0xffffffff;

const DECIMAL = /^[0-9]+$/;

/**
 * Parse one decimal octet. Leading zeros are rejected: `010` means 8 to inet_aton (octal) and 10
 * to nmap, and a scope decision must never depend on which reading wins.
 */
export function parseOctet(text: string): ParseResult<number> {
  if (text === '') return { ok: false, reason: 'an octet is empty' };
  if (!DECIMAL.test(text)) return { ok: false, reason: `octet "${text}" is not a decimal number` };
  if (text.length > 1 && text.startsWith('0')) {
    return { ok: false, reason: `octet "${text}" has a leading zero (ambiguous: octal or decimal)` };
  }
  const value = Number(text);
  if (value > 255) return { ok: false, reason: `octet ${text} is out of range 0-255` };
  return { ok: true, value };
}

/** Parse dotted-quad text (`10.0.0.5`) into an unsigned 32-bit number. */
export function parseIpv4(text: string): ParseResult<number> {
  const parts = text.split('.');
  if (parts.length !== 4) {
    return { ok: false, reason: `expected 4 dot-separated octets, found ${parts.length}` };
  }
  let value = 0;
  for (const part of parts) {
    const octet = parseOctet(part);
    if (!octet.ok) return octet;
    value = value * 256 + octet.value;
  }
  return { ok: true, value };
}

/** Parse dotted-quad text or throw DomainError('invalid_target'). */
export function ipv4FromString(text: string): number {
  const parsed = parseIpv4(text);
  if (!parsed.ok) {
    throw new DomainError('invalid_target', `invalid address "${text}": ${parsed.reason}`, { token: text });
  }
  return parsed.value;
}

/** Dotted-quad text of an unsigned 32-bit number. */
export function ipv4ToString(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > IPV4_MAX) {
    throw new RangeError(`not an IPv4 address value: ${value}`);
  }
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Parse a prefix length such as `24` (0..max, no leading zeros). */
export function parsePrefix(text: string, max: number): ParseResult<number> {
  if (!DECIMAL.test(text) || (text.length > 1 && text.startsWith('0'))) {
    return { ok: false, reason: `prefix length "/${text}" is not a number 0-${max}` };
  }
  const value = Number(text);
  if (value > max) return { ok: false, reason: `prefix length /${text} is out of range 0-${max}` };
  return { ok: true, value };
}

/** Inclusive range of the block of `prefix` that contains `address` (host bits cleared). */
export function ipv4CidrRange(address: number, prefix: number): { from: number; to: number } {
  const size = 2 ** (32 - prefix);
  const from = Math.floor(address / size) * size;
  return { from, to: from + size - 1 };
}

/** The prefix length if [from, to] is exactly one aligned CIDR block, otherwise undefined. */
export function ipv4RangeAsPrefix(from: number, to: number): number | undefined {
  const size = to - from + 1;
  const bits = Math.log2(size);
  if (!Number.isInteger(bits) || from % size !== 0) return undefined;
  return 32 - bits;
}
