import fc from 'fast-check';
import { ipv6ToString, normalizeIpv6, parseIpv6, parseIpv6Cidr } from './ipv6';

/** Node's WHATWG URL parser serialises IPv6 hosts the same way (except IPv4-mapped tails). */
const urlCanonical = (text: string): string => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('ipv6', () => {
  it.each([
    ['::1', '::1'],
    ['::', '::'],
    ['FE80:0000:0000:0000:0000:0000:0000:0001', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
  ])('normalises %s to %s', (input, expected) => {
    expect(normalizeIpv6(input)).toBe(expected);
  });

  it.each([
    ['1::2::3', '"::" may appear only once'],
    [':1:2:3:4:5:6:7', 'a group is empty'],
    ['1:2:3:4:5:6:7', 'expected 8 groups of hexadecimal digits, found 7'],
    ['1:2:3:4:5:6:7::8', 'found 8 besides "::"'],
    ['g::1', 'group "g" is not 1-4 hexadecimal digits'],
    ['::1.2.3.256', 'embedded IPv4 part: octet 256 is out of range 0-255'],
  ])('rejects %s', (input, reason) => {
    const parsed = parseIpv6(input);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.reason).toContain(reason);
  });

  it('clears host bits of a prefix and reports that it did', () => {
    const parsed = parseIpv6Cidr('fd00::1:17/112');
    expect(parsed.ok && ipv6ToString(parsed.value.network)).toBe('fd00::1:0');
    expect(parsed.ok && parsed.value.hostBitsSet).toBe(true);
  });

  it('agrees with the WHATWG serialiser and round-trips (property)', () => {
    const value = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
      // Mostly-zero addresses exercise the "::" choice.
      fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 8, maxLength: 8 }).map((g) =>
        g.reduce((acc, x) => (acc << 16n) | BigInt(x), 0n),
      ),
    );
    fc.assert(
      fc.property(value, (v) => {
        const text = ipv6ToString(v);
        const parsed = parseIpv6(text);
        expect(parsed.ok && parsed.value).toBe(v);
        if (!text.includes('.')) expect(text).toBe(urlCanonical(text));
      }),
      { numRuns: 200 },
    );
  });
});
