import { DomainError } from '@portolan/contracts/errors';
import { findInterval, mergeIntervals, subtractIntervals, type Interval } from './intervals';
import { ipv4ToString, parseIpv4 } from './ipv4';
import { ipv6InCidr, isIpv4Mapped, mappedIpv4, parseIpv6 } from './ipv6';
import { parseCidr, type Cidr } from './cidr-list.parser';
import type { TargetSpec } from './target-spec.model';

export interface ScopeOptions {
  /** CIDR blocks targets must fall inside (a bare address is one host). */
  allow: readonly string[];
  /** CIDR blocks carved out of `allow`. */
  exclude: readonly string[];
}

/** Loopback only: a fresh install can scan nothing but itself. */
export const DEFAULT_SCOPE: Readonly<ScopeOptions> = Object.freeze({
  allow: Object.freeze(['127.0.0.0/8', '::1/128']),
  exclude: Object.freeze([]),
});

type Ipv6Cidr = Extract<Cidr, { family: 'ipv6' }>;

/**
 * Decides which addresses may be scanned: an address is in scope iff it lies in some allow block
 * and in no exclude block. IPv4 ranges are compared as intervals, never host by host. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged by the IPv4 rules for a.b.c.d, so the
 * IPv6 form cannot be used to reach an excluded IPv4 host.
 */
export class ScopeGuard {
  private readonly allowedV4: Interval[];
  private readonly allowV6: Ipv6Cidr[];
  private readonly excludeV6: Ipv6Cidr[];
  private readonly allowText: string[];
  private readonly excludeText: string[];

  /** Throws DomainError('invalid_config') for a malformed block or one with host bits set. */
  constructor(opts: ScopeOptions) {
    const allow = opts.allow.map(parseCidr);
    const exclude = opts.exclude.map(parseCidr);
    const v4 = (list: Cidr[]): Interval[] =>
      mergeIntervals(list.flatMap((c) => (c.family === 'ipv4' ? [{ from: c.from, to: c.to }] : [])));
    const v6 = (list: Cidr[]): Ipv6Cidr[] => list.filter((c): c is Ipv6Cidr => c.family === 'ipv6');
    this.allowedV4 = subtractIntervals(v4(allow), v4(exclude));
    this.allowV6 = v6(allow);
    this.excludeV6 = v6(exclude);
    this.allowText = allow.map((c) => c.text);
    this.excludeText = exclude.map((c) => c.text);
  }

  /** Whether one address (IPv4 or IPv6 text) is in scope; text that is not an address is not. */
  isAllowed(address: string): boolean {
    const v4 = parseIpv4(address.trim());
    if (v4.ok) return findInterval(this.allowedV4, v4.value) !== undefined;
    const v6 = parseIpv6(address.trim());
    return v6.ok && this.ipv6Allowed(v6.value);
  }

  /**
   * Throws DomainError('out_of_scope') for the first address of the spec outside the scope, and
   * for any unresolved host name (resolve host names first, see resolveHostnames).
   */
  check(spec: TargetSpec): void {
    for (const entry of spec.entries) {
      if (entry.kind === 'hostname') {
        throw new DomainError(
          'out_of_scope',
          `host name "${entry.name}" must be resolved to addresses before the scope check`,
          { hostname: entry.name, allowed: this.allowText },
        );
      }
      if (entry.kind === 'ipv4') {
        const outside = this.firstOutsideV4(entry.from, entry.to);
        if (outside !== undefined) throw this.outOfScope(ipv4ToString(outside));
      } else {
        const parsed = parseIpv6(entry.address);
        if (!parsed.ok || !this.ipv6Allowed(parsed.value)) throw this.outOfScope(entry.address);
      }
    }
  }

  /** First address of [from, to] not covered by the allowed intervals, if any. */
  private firstOutsideV4(from: number, to: number): number | undefined {
    const covering = findInterval(this.allowedV4, from);
    if (covering === undefined) return from;
    return covering.to >= to ? undefined : covering.to + 1;
  }

  private ipv6Allowed(address: bigint): boolean {
    if (isIpv4Mapped(address)) return findInterval(this.allowedV4, mappedIpv4(address)) !== undefined;
    const inside = (c: Ipv6Cidr): boolean => ipv6InCidr(address, c.network, c.prefix);
    return this.allowV6.some(inside) && !this.excludeV6.some(inside);
  }

  private outOfScope(address: string): DomainError {
    const allowed = this.allowText.length > 0 ? this.allowText.join(', ') : 'nothing';
    const excluded = this.excludeText.length > 0 ? `; excluded: ${this.excludeText.join(', ')}` : '';
    return new DomainError('out_of_scope', `target ${address} is outside the allowed scope (allowed: ${allowed}${excluded})`, {
      address,
      allowed: this.allowText,
      excluded: this.excludeText,
    });
  }
}
