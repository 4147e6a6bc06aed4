import fc from 'fast-check';
import { ipv4ToString } from '../ipv4';
import { ipv6ToString } from '../ipv6';

/**
 * Random target-spec tokens, each with the hosts it must select, drawn from a small space
 * (10.0.0.0-10.0.3.255, fd00::/120-ish, a few names) so specs stay under the host cap.
 */
export interface TokenCase {
  text: string;
  hosts: string[];
}

const BASE = 10 * 2 ** 24;
const v4 = fc.integer({ min: BASE, max: BASE + 1023 });
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ipv4ToString(from + i));

const single = v4.map((a): TokenCase => ({ text: ipv4ToString(a), hosts: [ipv4ToString(a)] }));

const lastOctetRange = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
  .map(([block, x, y]): TokenCase => {
    const [lo, hi] = x <= y ? [x, y] : [y, x];
    const from = BASE + block * 256 + lo;
    return { text: `${ipv4ToString(from)}-${hi}`, hosts: range(from, from - lo + hi) };
  });

const fullRange = fc.tuple(v4, v4).map(([a, b]): TokenCase => {
  const [from, to] = a <= b ? [a, b] : [b, a];
  return { text: `${ipv4ToString(from)}-${ipv4ToString(to)}`, hosts: range(from, to) };
});

const cidr = fc.tuple(v4, fc.integer({ min: 22, max: 32 })).map(([a, prefix]): TokenCase => {
  const size = 2 ** (32 - prefix);
  const from = Math.floor(a / size) * size;
  return { text: `${ipv4ToString(a)}/${prefix}`, hosts: range(from, from + size - 1) };
});

const FD00 = 0xfd00n << 112n;
const v6Value = fc.oneof(
  fc.bigInt({ min: FD00, max: FD00 + 300n }),
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
);

/** Non-canonical spellings of an IPv6 address: fully expanded, upper case. */
function spell(value: bigint, style: number): string {
  if (style === 0) return ipv6ToString(value);
  const full = value.toString(16).padStart(32, '0').match(/.{4}/g)?.join(':') ?? '';
  return style === 1 ? full : full.toUpperCase();
}

const v6Single = fc
  .tuple(v6Value, fc.integer({ min: 0, max: 2 }))
  .map(([value, style]): TokenCase => ({ text: spell(value, style), hosts: [ipv6ToString(value)] }));

const v6Cidr = fc
  .tuple(fc.bigInt({ min: FD00, max: FD00 + 1000n }), fc.integer({ min: 122, max: 128 }))
  .map(([value, prefix]): TokenCase => {
    const size = 1n << BigInt(128 - prefix);
    const network = (value / size) * size;
    const hosts = Array.from({ length: Number(size) }, (_, i) => ipv6ToString(network + BigInt(i)));
    return { text: `${ipv6ToString(value)}/${prefix}`, hosts };
  });

const hostname = fc
  .tuple(fc.constantFrom('db-1', 'web', 'Mail', 'x9'), fc.constantFrom('', '.example.internal', '.lan'))
  .map(([label, suffix]): TokenCase => ({ text: label + suffix, hosts: [(label + suffix).toLowerCase()] }));

export const tokenCase: fc.Arbitrary<TokenCase> = fc.oneof(
  single,
  lastOctetRange,
  fullRange,
  cidr,
  v6Single,
  v6Cidr,
  hostname,
);

const separator = fc.constantFrom(' ', ',', ', ', '\t', ' ,  ', '\n');

/** A spec string and the distinct hosts it selects. */
export const specCase: fc.Arbitrary<{ text: string; hosts: Set<string> }> = fc
  .tuple(fc.array(tokenCase, { minLength: 1, maxLength: 6 }), fc.array(separator, { minLength: 6, maxLength: 6 }))
  .map(([tokens, seps]) => ({
    text: tokens.map((t, i) => (i === 0 ? '' : seps[i - 1]) + t.text).join(''),
    hosts: new Set(tokens.flatMap((t) => t.hosts)),
  }));
