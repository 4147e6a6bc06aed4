import { ipv4FromString, ipv4ToString, normalizeIpv6 } from '@portolan/targets';

/** Outcome of a non-throwing parse: the value, or a reason a person can act on. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** What a bare `*` stands for: the tool's column (tcp vs tcp6) decides the family. */
export type WildcardAddress = '0.0.0.0' | '::';

export interface SocketAddress {
  address: string;
  port: number;
}

const PORT_TEXT = /^[0-9]{1,5}$/;
const ZONE = /^[^\s%[\]:]+$/;
const MAPPED_PREFIX = '::ffff:';

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A listening port: decimal 1-65535. */
export function parsePort(text: string): ParseResult<number> {
  if (!PORT_TEXT.test(text)) return fail(`port "${text}" is not a decimal number`);
  const port = Number(text);
  if (port < 1 || port > 65535) return fail(`port ${port} is out of range 1-65535`);
  return { ok: true, value: port };
}

/** Drop a zone or interface suffix (`%lo`, `%eth0`, `%7`). */
function withoutZone(text: string): ParseResult<string> {
  const percent = text.indexOf('%');
  if (percent < 0) return { ok: true, value: text };
  const zone = text.slice(percent + 1);
  if (percent === 0 || !ZONE.test(zone)) return fail(`"${text}" has a malformed zone suffix`);
  return { ok: true, value: text.slice(0, percent) };
}

/**
 * Canonical text of a bind address as a tool prints it (without the port): IPv4 dotted, IPv6
 * lower-case compressed (RFC 5952), zone dropped, `*` read as `wildcard`, and an IPv4-mapped
 * IPv6 address (`::ffff:127.0.0.1`) reduced to its IPv4 address.
 */
export function normalizeBindAddress(text: string, wildcard: WildcardAddress): ParseResult<string> {
  const bare = withoutZone(text);
  if (!bare.ok) return bare;
  const host = bare.value;
  if (host === '*') return { ok: true, value: wildcard };
  try {
    if (host.includes(':')) {
      const ipv6 = normalizeIpv6(host);
      const mapped = ipv6.startsWith(MAPPED_PREFIX) && ipv6.includes('.');
      return { ok: true, value: mapped ? ipv6.slice(MAPPED_PREFIX.length) : ipv6 };
    }
    if (host.includes('.')) return { ok: true, value: ipv4ToString(ipv4FromString(host)) };
  } catch (error) {
    return fail(reasonOf(error));
  }
  return fail(`"${text}" is not an IP address`);
}

/**
 * Split `address:port` as ss and netstat print it: `0.0.0.0:22`, `127.0.0.53%lo:53`, `*:68`,
 * `[::]:22`, `[fe80::1%eth0]:546`, `[fe80::1]%eth0:546` (ss puts the interface after the
 * bracket), and unbracketed IPv6 where the last colon separates the port (`:::22`, `::1:631`).
 */
export function parseSocketAddress(text: string, wildcard: WildcardAddress): ParseResult<SocketAddress> {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail(`"${text}" has "[" without "]"`);
    const tail = /^(%[^:]*)?:([^:]*)$/.exec(text.slice(close + 1));
    if (tail === null) return fail(`"${text}" has no ":port" after "]"`);
    host = text.slice(1, close) + (tail[1] ?? '');
    portText = tail[2];
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail(`"${text}" has no ":port"`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes('[') || host.includes(']')) return fail(`"${text}" has a stray bracket`);
  }
  if (host === '') return fail(`"${text}" has no address before the port`);
  const address = normalizeBindAddress(host, wildcard);
  if (!address.ok) return address;
  const port = parsePort(portText);
  if (!port.ok) return port;
  return { ok: true, value: { address: address.value, port: port.value } };
}
