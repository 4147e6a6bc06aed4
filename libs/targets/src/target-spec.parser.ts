import { DomainError } from '@portolan/contracts/errors';
import { insertInterval, type Interval } from './intervals';
import { ipv4CidrRange, parseIpv4, parseOctet, parsePrefix } from './ipv4';
import { ipv6ToString, parseIpv6Cidr } from './ipv6';
import { DEFAULT_MAX_HOSTS, normalizeTargets, type TargetEntry, type TargetSpec } from './target-spec.model';

export interface ParseTargetOptions {
  /** Most distinct hosts one spec may select; default DEFAULT_MAX_HOSTS (65536). */
  maxHosts?: number;
}

/** A piece of the input with its 1-based character offset. */
export interface SpecToken {
  text: string;
  position: number;
}

type ParsedToken =
  | { kind: 'ipv4'; from: number; to: number }
  | { kind: 'ipv6'; from: bigint; to: bigint }
  | { kind: 'hostname'; name: string };

/** Smallest IPv6 prefix accepted in a spec: /112 is 65536 hosts, each expanded into an entry. */
const MIN_IPV6_PREFIX = 112;
const IPV4_LIKE = /^[0-9][0-9.-]*$/;

/** Split on whitespace and commas, remembering where each token starts. */
export function tokenizeSpec(spec: string): SpecToken[] {
  return [...spec.matchAll(/[^\s,]+/g)].map((m) => ({ text: m[0], position: (m.index ?? 0) + 1 }));
}

function invalid(token: SpecToken, what: string, reason: string): DomainError {
  return new DomainError('invalid_target', `invalid ${what} "${token.text}" at position ${token.position}: ${reason}`, {
    token: token.text,
    position: token.position,
  });
}

function parseIpv4Range(token: SpecToken): ParsedToken {
  const parts = token.text.split('-');
  if (parts.length !== 2) throw invalid(token, 'address range', 'expected one "-" between range start and end');
  const [startText, endText] = parts;
  const start = parseIpv4(startText);
  if (!start.ok) throw invalid(token, 'address range', `range start: ${start.reason}`);
  if (endText === '') throw invalid(token, 'address range', 'range end is missing');
  if (!endText.includes('.')) {
    const octet = parseOctet(endText);
    if (!octet.ok) throw invalid(token, 'address range', `range end: ${octet.reason}`);
    const first = start.value & 255;
    if (octet.value < first) {
      throw invalid(token, 'address range', `range end ${octet.value} is below range start ${first}`);
    }
    return { kind: 'ipv4', from: start.value, to: start.value - first + octet.value };
  }
  const end = parseIpv4(endText);
  if (!end.ok) throw invalid(token, 'address range', `range end: ${end.reason}`);
  if (end.value < start.value) {
    throw invalid(token, 'address range', `range end ${endText} is below range start ${startText}`);
  }
  return { kind: 'ipv4', from: start.value, to: end.value };
}

function parseIpv4Token(token: SpecToken): ParsedToken {
  const slash = token.text.indexOf('/');
  if (slash < 0 && token.text.includes('-')) return parseIpv4Range(token);
  const address = parseIpv4(slash < 0 ? token.text : token.text.slice(0, slash));
  if (!address.ok) throw invalid(token, 'address', address.reason);
  if (slash < 0) return { kind: 'ipv4', from: address.value, to: address.value };
  const prefix = parsePrefix(token.text.slice(slash + 1), 32);
  if (!prefix.ok) throw invalid(token, 'address', prefix.reason);
  // Host bits are cleared, as nmap does: 10.0.0.5/24 means 10.0.0.0/24.
  return { kind: 'ipv4', ...ipv4CidrRange(address.value, prefix.value) };
}

function parseIpv6Token(token: SpecToken): ParsedToken {
  if (token.text.includes('-')) {
    throw invalid(token, 'address', `IPv6 ranges are not supported; use a prefix /${MIN_IPV6_PREFIX} to /128`);
  }
  const parsed = parseIpv6Cidr(token.text);
  if (!parsed.ok) throw invalid(token, 'address', parsed.reason);
  const { network, prefix } = parsed.value;
  if (prefix < MIN_IPV6_PREFIX) {
    throw invalid(
      token,
      'address',
      `too many hosts: /${prefix} holds 2^${128 - prefix} addresses; IPv6 prefixes must be /${MIN_IPV6_PREFIX} to /128`,
    );
  }
  return { kind: 'ipv6', from: network, to: network + (1n << BigInt(128 - prefix)) - 1n };
}

/** Why `name` is not an RFC 1123 host name, or undefined when it is one. */
export function hostnameProblem(name: string): string | undefined {
  if (name.length > 253) return 'longer than 253 characters';
  const labels = name.split('.');
  for (const label of labels) {
    if (label === '') return 'a label is empty (".." or a leading ".")';
    if (label.length > 63) return `label "${label.slice(0, 16)}..." is longer than 63 characters`;
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad) return `character "${bad[0]}" is not allowed in a host name`;
    if (label.startsWith('-') || label.endsWith('-')) return `label "${label}" starts or ends with "-"`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return 'the last label must not be all digits';
  return undefined;
}

function parseHostnameToken(token: SpecToken): ParsedToken {
  const lower = token.text.toLowerCase();
  const name = lower.endsWith('.') ? lower.slice(0, -1) : lower;
  const problem = hostnameProblem(name);
  if (problem !== undefined) throw invalid(token, 'host name', problem);
  return { kind: 'hostname', name };
}

function parseToken(token: SpecToken): ParsedToken {
  if (token.text.includes(':')) return parseIpv6Token(token);
  if (token.text.includes('/') || IPV4_LIKE.test(token.text)) return parseIpv4Token(token);
  return parseHostnameToken(token);
}

/** Counts distinct hosts as tokens arrive, so duplicates do not count against the cap. */
class DistinctHostCounter {
  private readonly v4: Interval[] = [];
  private readonly others = new Set<string>();
  total = 0;

  add(parsed: ParsedToken): void {
    if (parsed.kind === 'ipv4') {
      this.total += insertInterval(this.v4, parsed.from, parsed.to);
      return;
    }
    if (parsed.kind === 'hostname') {
      this.addOther(`name:${parsed.name}`);
      return;
    }
    for (let a = parsed.from; a <= parsed.to; a++) this.addOther(`v6:${a}`);
  }

  private addOther(key: string): void {
    if (this.others.has(key)) return;
    this.others.add(key);
    this.total++;
  }
}

function tokenSize(parsed: ParsedToken): number {
  if (parsed.kind === 'ipv4') return parsed.to - parsed.from + 1;
  if (parsed.kind === 'ipv6') return Number(parsed.to - parsed.from) + 1;
  return 1;
}

function toEntries(parsed: ParsedToken): TargetEntry[] {
  if (parsed.kind !== 'ipv6') return [parsed];
  const entries: TargetEntry[] = [];
  for (let a = parsed.from; a <= parsed.to; a++) entries.push({ kind: 'ipv6', address: ipv6ToString(a) });
  return entries;
}

/**
 * Parse a user's target spec: tokens separated by whitespace and/or commas, each an IPv4 address,
 * last-octet range (192.168.1.1-255), full range (10.0.0.250-10.0.1.5), IPv4 CIDR, IPv6 address,
 * IPv6 CIDR /112-/128, or RFC 1123 host name. Octets with leading zeros are rejected as ambiguous.
 * Throws DomainError('invalid_target') naming the token and its 1-based position.
 */
export function parseTargetSpec(spec: string, options: ParseTargetOptions = {}): TargetSpec {
  const maxHosts = options.maxHosts ?? DEFAULT_MAX_HOSTS;
  if (!Number.isSafeInteger(maxHosts) || maxHosts < 1) throw new RangeError(`maxHosts must be a positive integer`);
  const tokens = tokenizeSpec(spec);
  if (tokens.length === 0) {
    throw new DomainError('invalid_target', 'target spec is empty', { token: '', position: 1 });
  }
  const counter = new DistinctHostCounter();
  const entries: TargetEntry[] = [];
  for (const token of tokens) {
    const parsed = parseToken(token);
    const size = tokenSize(parsed);
    if (size <= maxHosts) counter.add(parsed);
    if (size > maxHosts || counter.total > maxHosts) {
      const total = Math.max(size, counter.total);
      throw new DomainError(
        'invalid_target',
        `target "${token.text}" at position ${token.position} exceeds the limit of ${maxHosts} hosts per spec ` +
          `(the spec would select ${size > maxHosts ? 'at least ' : ''}${total} hosts)`,
        { token: token.text, position: token.position, maxHosts },
      );
    }
    entries.push(...toEntries(parsed));
  }
  return normalizeTargets(entries);
}
