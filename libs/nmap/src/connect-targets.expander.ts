import { DomainError } from '@portolan/contracts/errors';
import { isIPv4, isIPv6 } from 'node:net';

/** Largest host list the built-in scanner will expand (a /16). */
export const MAX_CONNECT_HOSTS = 65536;

const LAST_OCTET_RANGE = /^(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})-(\d{1,3})$/;
const CIDR = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/;

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function intToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function invalid(token: string, message: string): DomainError {
  return new DomainError('invalid_target', message, { token });
}

function* expandToken(token: string, ipv6: boolean): Generator<string> {
  if (isIPv6(token)) {
    if (!ipv6) throw invalid(token, `Target ${token} is an IPv6 address but the scan is not an IPv6 scan`);
    yield token;
    return;
  }
  const isV4Form = isIPv4(token) || LAST_OCTET_RANGE.test(token) || CIDR.test(token);
  if (isV4Form && ipv6) throw invalid(token, `Target ${token} is IPv4 but the scan is an IPv6 scan`);
  if (isIPv4(token)) {
    yield token;
    return;
  }
  const range = LAST_OCTET_RANGE.exec(token);
  if (range) {
    const [, prefix, fromText, toText] = range;
    const from = Number(fromText);
    const to = Number(toText);
    if (!isIPv4(`${prefix}.${from}`) || to > 255 || from > to) throw invalid(token, `Invalid address range ${token}`);
    for (let octet = from; octet <= to; octet += 1) yield `${prefix}.${octet}`;
    return;
  }
  const cidr = CIDR.exec(token);
  if (cidr) {
    const [, base, bitsText] = cidr;
    const bits = Number(bitsText);
    if (!isIPv4(base) || bits > 32) throw invalid(token, `Invalid network ${token}`);
    if (bits < 16) throw invalid(token, `Network ${token} is larger than a /16; scan it with nmap`);
    const size = 2 ** (32 - bits);
    const first = Math.floor(ipv4ToInt(base) / size) * size;
    for (let offset = 0; offset < size; offset += 1) yield intToIpv4(first + offset);
    return;
  }
  throw invalid(
    token,
    `The built-in connect scanner takes IP addresses, a.b.c.x-y ranges and IPv4 networks, not "${token}"; ` +
      'host names and other nmap target forms need nmap',
  );
}

/**
 * IP addresses for the built-in connect scanner, in target order without duplicates. Accepts
 * 'a.b.c.d', 'a.b.c.x-y', IPv4 CIDR down to /16, and single IPv6 addresses. Host names are
 * refused: resolving them here would silently disagree with what nmap resolves.
 */
export function expandConnectTargets(targets: string[], ipv6: boolean, maxHosts = MAX_CONNECT_HOSTS): string[] {
  if (targets.length === 0) throw new DomainError('invalid_target', 'A scan needs at least one target');
  const hosts = new Set<string>();
  for (const token of targets) {
    for (const address of expandToken(token, ipv6)) {
      hosts.add(address);
      if (hosts.size > maxHosts) {
        throw new DomainError('invalid_target', `The targets expand to more than ${maxHosts} hosts`, { token });
      }
    }
  }
  return [...hosts];
}
