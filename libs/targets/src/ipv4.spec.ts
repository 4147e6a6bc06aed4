import fc from 'fast-check';
import { DomainError } from '@portolan/contracts/errors';
import { ipv4FromString, ipv4RangeAsPrefix, ipv4ToString, parseIpv4 } from './ipv4';

describe('ipv4', () => {
  it('converts between text and unsigned numbers, including the top half', () => {
    expect(ipv4FromString('10.0.0.5')).toBe(167772165);
    expect(ipv4FromString('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToString(0xc0a80101)).toBe('192.168.1.1');
    expect(ipv4ToString(0)).toBe('0.0.0.0');
  });

  it('rejects leading zeros, out-of-range octets and wrong shapes with a reason', () => {
    expect(parseIpv4('10.0.0.01')).toEqual({ ok: false, reason: 'octet "01" has a leading zero (ambiguous: octal or decimal)' });
    expect(parseIpv4('10.0.0.256')).toEqual({ ok: false, reason: 'octet 256 is out of range 0-255' });
    expect(parseIpv4('10.0.0')).toEqual({ ok: false, reason: 'expected 4 dot-separated octets, found 3' });
    expect(parseIpv4('10.0..1')).toEqual({ ok: false, reason: 'an octet is empty' });
    expect(parseIpv4('10.0.0.+1').ok).toBe(false);
    expect(() => ipv4FromString('1.2.3.x')).toThrow(DomainError);
    expect(() => ipv4ToString(2 ** 32)).toThrow(RangeError);
  });

  it('recognises aligned CIDR blocks', () => {
    expect(ipv4RangeAsPrefix(ipv4FromString('10.0.0.0'), ipv4FromString('10.0.255.255'))).toBe(16);
    expect(ipv4RangeAsPrefix(ipv4FromString('10.0.0.1'), ipv4FromString('10.0.0.2'))).toBeUndefined();
    expect(ipv4RangeAsPrefix(0, 0xffffffff)).toBe(0);
  });

  it('round-trips every address (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(ipv4FromString(ipv4ToString(n))).toBe(n);
      }),
      { numRuns: 200 },
    );
  });
});
