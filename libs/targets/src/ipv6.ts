import { DomainError } from '@portolan/contracts/errors';
import { ipv4ToString, parseIpv4, parsePrefix, type ParseResult } from './ipv4';

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

/** Parse the groups of one side of `::` into 16-bit values; a dotted IPv4 tail counts as two. */
function parseGroups(text: string, allowDottedTail: boolean): ParseResult<number[]> {
  if (text === '') return { ok: true, value: [] };
  const parts = text.split(':');
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (part.includes('.') && allowDottedTail && index === parts.length - 1) {
      const v4 = parseIpv4(part);
      if (!v4.ok) return { ok: false, reason: `embedded IPv4 part: ${v4.reason}` };
      groups.push(v4.value >>> 16, v4.value & 0xffff);
    } else if (part === '') {
      return { ok: false, reason: 'a group is empty (single ":" where "::" or a group was expected)' };
    } else if (!HEX_GROUP.test(part)) {
      return { ok: false, reason: `group "${part}" is not 1-4 hexadecimal digits` };
    } else {
      groups.push(parseInt(part, 16));
    }
  }
  return { ok: true, value: groups };
}

/** Parse IPv6 text (any valid RFC 4291 form, including an embedded dotted IPv4 tail) to a bigint. */
export function parseIpv6(text: string): ParseResult<bigint> {
  if (text === '') return { ok: false, reason: 'address is empty' };
  if (text.includes('%')) return { ok: false, reason: 'zone identifiers ("%eth0") are not supported' };
  const halves = text.split('::');
  if (halves.length > 2) return { ok: false, reason: '"::" may appear only once' };
  const compressed = halves.length === 2;
  const head = parseGroups(halves[0], !compressed);
  if (!head.ok) return head;
  const tail = parseGroups(compressed ? halves[1] : '', true);
  if (!tail.ok) return tail;
  const count = head.value.length + tail.value.length;
  if (compressed ? count > 7 : count !== 8) {
    return { ok: false, reason: `expected 8 groups of hexadecimal digits, found ${count}${compressed ? ' besides "::"' : ''}` };
  }
  const zeros: number[] = new Array<number>(8 - count).fill(0);
  let value = 0n;
  for (const group of [...head.value, ...zeros, ...tail.value]) value = (value << 16n) | BigInt(group);
  return { ok: true, value };
}

/** True for ::ffff:a.b.c.d, an IPv4 address carried in IPv6 form. */
export function isIpv4Mapped(value: bigint): boolean {
  return value >> 32n === 0xffffn;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address. */
export function mappedIpv4(value: bigint): number {
  return Number(value & 0xffffffffn);
}

/**
 * Canonical RFC 5952 text: lower case, no leading zeros, the longest run (first on a tie) of two
 * or more zero groups shortened to `::`, and IPv4-mapped addresses written `::ffff:192.0.2.1`.
 */
export function ipv6ToString(value: bigint): string {
  if (value < 0n || value >> 128n !== 0n) throw new RangeError(`not an IPv6 address value: ${value}`);
  if (isIpv4Mapped(value)) {
    return `::ffff:${ipv4ToString(mappedIpv4(value))}`;
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** Canonical text of an IPv6 address, or DomainError('invalid_target'). */
export function normalizeIpv6(text: string): string {
  const parsed = parseIpv6(text);
  if (!parsed.ok) {
    throw new DomainError('invalid_target', `invalid address "${text}": ${parsed.reason}`, { token: text });
  }
  return ipv6ToString(parsed.value);
}

/** Parse `addr/prefix`; the network has host bits cleared, `hostBitsSet` says whether any were. */
export function parseIpv6Cidr(
  text: string,
): ParseResult<{ network: bigint; prefix: number; hostBitsSet: boolean }> {
  const slash = text.indexOf('/');
  const address = parseIpv6(slash < 0 ? text : text.slice(0, slash));
  if (!address.ok) return address;
  const prefix = slash < 0 ? { ok: true as const, value: 128 } : parsePrefix(text.slice(slash + 1), 128);
  if (!prefix.ok) return prefix;
  const hostBits = BigInt(128 - prefix.value);
  const network = (address.value >> hostBits) << hostBits;
  return { ok: true, value: { network, prefix: prefix.value, hostBitsSet: network !== address.value } };
}

/** True when `address` lies inside network/prefix. */
export function ipv6InCidr(address: bigint, network: bigint, prefix: number): boolean {
  const hostBits = BigInt(128 - prefix);
  return address >> hostBits === network >> hostBits;
}
