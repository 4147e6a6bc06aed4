import { DomainError } from '@portolan/contracts/errors';
import { ipv4CidrRange, ipv4ToString, parseIpv4, parsePrefix, type ParseResult } from './ipv4';
import { ipv6ToString, parseIpv6Cidr } from './ipv6';

/** A network block from configuration; `text` is its canonical form (`10.0.0.0/8`, `::1/128`). */
export type Cidr =
  | { family: 'ipv4'; text: string; prefix: number; from: number; to: number }
  | { family: 'ipv6'; text: string; prefix: number; network: bigint };

function parseIpv4Cidr(text: string): ParseResult<Cidr> {
  const slash = text.indexOf('/');
  const address = parseIpv4(slash < 0 ? text : text.slice(0, slash));
  if (!address.ok) return address;
  const prefix = slash < 0 ? { ok: true as const, value: 32 } : parsePrefix(text.slice(slash + 1), 32);
  if (!prefix.ok) return prefix;
  const { from, to } = ipv4CidrRange(address.value, prefix.value);
  const canonical = `${ipv4ToString(from)}/${prefix.value}`;
  if (from !== address.value) return { ok: false, reason: `host bits are set (did you mean ${canonical}?)` };
  return { ok: true, value: { family: 'ipv4', text: canonical, prefix: prefix.value, from, to } };
}

function parseIpv6CidrEntry(text: string): ParseResult<Cidr> {
  const parsed = parseIpv6Cidr(text);
  if (!parsed.ok) return parsed;
  const { network, prefix, hostBitsSet } = parsed.value;
  const canonical = `${ipv6ToString(network)}/${prefix}`;
  if (hostBitsSet) return { ok: false, reason: `host bits are set (did you mean ${canonical}?)` };
  return { ok: true, value: { family: 'ipv6', text: canonical, prefix, network } };
}

/** Parse one block, `10.0.0.0/8` or `::1/128`; a bare address is a single-host block. */
export function tryParseCidr(text: string): ParseResult<Cidr> {
  return text.includes(':') ? parseIpv6CidrEntry(text) : parseIpv4Cidr(text);
}

/** Parse one block or throw DomainError('invalid_config'). Host bits must be clear. */
export function parseCidr(text: string): Cidr {
  const parsed = tryParseCidr(text.trim());
  if (!parsed.ok) throw new DomainError('invalid_config', `invalid CIDR "${text.trim()}": ${parsed.reason}`, { token: text.trim() });
  return parsed.value;
}

/**
 * Parse a configuration value such as `127.0.0.0/8, ::1/128` (comma and/or whitespace
 * separated; empty text is an empty list). Throws DomainError('invalid_config') naming the entry
 * and its 1-based position.
 */
export function parseCidrList(text: string): Cidr[] {
  return [...text.matchAll(/[^\s,]+/g)].map((match) => {
    const position = (match.index ?? 0) + 1;
    const parsed = tryParseCidr(match[0]);
    if (!parsed.ok) {
      throw new DomainError('invalid_config', `invalid CIDR "${match[0]}" at position ${position}: ${parsed.reason}`, {
        token: match[0],
        position,
      });
    }
    return parsed.value;
  });
}
