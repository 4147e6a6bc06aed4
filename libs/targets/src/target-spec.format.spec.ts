import { formatIpv4Range, formatTargetSpec, listHosts } from './target-spec.format';
import { parseTargetSpec } from './target-spec.parser';
import { ipv4FromString } from './ipv4';

describe('formatTargetSpec', () => {
  it('writes ranges inside one /24 in last-octet form', () => {
    expect(formatTargetSpec(parseTargetSpec('127.0.1.5, 127.0.0.1-127.0.0.20'))).toBe('127.0.0.1-20 127.0.1.5');
  });

  it('writes aligned blocks of 256 or more as CIDR and other spans as full ranges', () => {
    expect(formatTargetSpec(parseTargetSpec('10.0.0.0-10.0.3.255 192.168.1.0-255 10.9.0.250-10.9.1.5'))).toBe(
      '10.0.0.0/22 10.9.0.250-10.9.1.5 192.168.1.0/24',
    );
    expect(formatIpv4Range(ipv4FromString('10.0.0.0'), ipv4FromString('10.0.0.1'))).toBe('10.0.0.0-1');
  });

  it('lists IPv4, then IPv6, then host names', () => {
    expect(formatTargetSpec(parseTargetSpec('web.lan ::1 10.0.0.1'))).toBe('10.0.0.1 ::1 web.lan');
  });
});

describe('listHosts', () => {
  const spec = parseTargetSpec('10.0.0.254-10.0.1.1 ::1 db.lan');

  it('lists every host as text, in spec order', () => {
    expect(listHosts(spec)).toEqual(['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1', '::1', 'db.lan']);
  });

  it('stops at the limit', () => {
    expect(listHosts(spec, 2)).toEqual(['10.0.0.254', '10.0.0.255']);
    expect(listHosts(spec, 5)).toEqual(['10.0.0.254', '10.0.0.255', '10.0.1.0', '10.0.1.1', '::1']);
    expect(listHosts(spec, 0)).toEqual([]);
  });

  it('does not enumerate a large range beyond the limit', () => {
    const big = { entries: [{ kind: 'ipv4' as const, from: 0, to: 0xffffffff }] };
    expect(listHosts(big, 3)).toEqual(['0.0.0.0', '0.0.0.1', '0.0.0.2']);
  });
});
