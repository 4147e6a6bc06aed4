import fc from 'fast-check';
import { parseTargetSpec } from './target-spec.parser';
import { countHosts } from './target-spec.model';
import { formatTargetSpec, listHosts } from './target-spec.format';
import { ipv4FromString } from './ipv4';
import { specCase } from './test/target-arbitraries';
import { errorOf } from './test/domain-error.helper';


const v4 = (from: string, to = from) => ({ kind: 'ipv4', from: ipv4FromString(from), to: ipv4FromString(to) });

describe('parseTargetSpec', () => {
  it('reads a last-octet range', () => {
    const spec = parseTargetSpec('192.168.1.1-255');
    expect(spec.entries).toEqual([v4('192.168.1.1', '192.168.1.255')]);
    expect(countHosts(spec)).toBe(255);
  });

  it('merges adjacent singles and ranges into one range', () => {
    const spec = parseTargetSpec('192.168.1.18 192.168.1.19 192.168.1.20-100');
    expect(spec.entries).toEqual([v4('192.168.1.18', '192.168.1.100')]);
  });

  it('accepts commas, whitespace and both as separators', () => {
    const spec = parseTargetSpec('10.0.0.9,10.0.0.1 ,\t10.0.0.5,,  ::1');
    expect(formatTargetSpec(spec)).toBe('10.0.0.1 10.0.0.5 10.0.0.9 ::1');
  });

  it('reads a range across /24 blocks', () => {
    expect(parseTargetSpec('10.0.0.250-10.0.1.5').entries).toEqual([v4('10.0.0.250', '10.0.1.5')]);
  });

  it('clears host bits of a CIDR, as nmap does', () => {
    expect(parseTargetSpec('192.168.1.77/24').entries).toEqual([v4('192.168.1.0', '192.168.1.255')]);
    expect(parseTargetSpec('10.1.2.3/32').entries).toEqual([v4('10.1.2.3')]);
  });

  it('sorts and removes duplicates', () => {
    const spec = parseTargetSpec('10.0.0.7 10.0.0.1-9 10.0.0.3 fe80::1 FE80:0::1 Host.Lan host.lan');
    expect(formatTargetSpec(spec)).toBe('10.0.0.1-9 fe80::1 host.lan');
  });

  it('writes IPv6 addresses in canonical RFC 5952 form', () => {
    const spec = parseTargetSpec('2001:0DB8:0000:0000:0000:0000:0000:0001 0:0:0:0:0:0:0:1 ::ffff:10.0.0.1');
    expect(spec.entries).toEqual([
      { kind: 'ipv6', address: '::1' },
      { kind: 'ipv6', address: '::ffff:10.0.0.1' },
      { kind: 'ipv6', address: '2001:db8::1' },
    ]);
  });

  it('expands a small IPv6 prefix into hosts', () => {
    const spec = parseTargetSpec('fd00::17/126');
    expect(listHosts(spec)).toEqual(['fd00::14', 'fd00::15', 'fd00::16', 'fd00::17']);
  });

  it('accepts a /112 but not a larger IPv6 prefix', () => {
    expect(countHosts(parseTargetSpec('fd00::/112'))).toBe(65536);
    const error = errorOf(() => parseTargetSpec('::1 fd00::/64'));
    expect(error.code).toBe('invalid_target');
    expect(error.message).toContain('too many hosts');
    expect(error.details).toEqual({ token: 'fd00::/64', position: 5 });
  });

  it('lower-cases host names and drops a trailing dot', () => {
    expect(parseTargetSpec('DB-1.Example.Internal. localhost').entries).toEqual([
      { kind: 'hostname', name: 'db-1.example.internal' },
      { kind: 'hostname', name: 'localhost' },
    ]);
  });

  it.each([
    ['10.0.0.1 192.168.1.300', 'invalid address "192.168.1.300" at position 10: octet 300 is out of range 0-255', 10],
    ['1.2.3.9-3', 'invalid address range "1.2.3.9-3" at position 1: range end 3 is below range start 9', 1],
    ['1.2.3.9-1.2.3.1', 'range end 1.2.3.1 is below range start 1.2.3.9', 1],
    ['10.0.0.1,1.2.3', 'expected 4 dot-separated octets, found 3', 10],
    ['  010.0.0.1', 'octet "010" has a leading zero (ambiguous: octal or decimal)', 3],
    ['10.0.0.0/33', 'prefix length /33 is out of range 0-32', 1],
    ['10.0.0.1-', 'range end is missing', 1],
    ['10.0.0.1-2-3', 'expected one "-"', 1],
    ['fe80::1::2', '"::" may appear only once', 1],
    ['fe80::1-5', 'IPv6 ranges are not supported', 1],
    ['2001:db8::12345', 'group "12345" is not 1-4 hexadecimal digits', 1],
    ['fe80::1%eth0', 'zone identifiers', 1],
    ['web_1.lan', 'character "_" is not allowed in a host name', 1],
    ['a..b', 'a label is empty', 1],
    ['-web.lan', 'starts or ends with "-"', 1],
    ['web.123', 'the last label must not be all digits', 1],
  ])('rejects %p', (input, message, position) => {
    const error = errorOf(() => parseTargetSpec(input));
    expect(error.code).toBe('invalid_target');
    expect(error.message).toContain(message);
    expect(error.details.position).toBe(position);
    expect(input.slice(position - 1)).toMatch(new RegExp(`^${String(error.details.token).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('rejects an empty spec', () => {
    for (const input of ['', '   ', ' , ,']) {
      expect(errorOf(() => parseTargetSpec(input)).message).toBe('target spec is empty');
    }
  });

  it('names the token that takes the spec over the host cap', () => {
    const error = errorOf(() => parseTargetSpec('10.0.0.0/24 10.0.1.0/24 10.0.2.1', { maxHosts: 512 }));
    expect(error.details).toEqual({ token: '10.0.2.1', position: 25, maxHosts: 512 });
    expect(error.message).toContain('exceeds the limit of 512 hosts per spec');
  });

  it('applies the default cap of 65536 hosts', () => {
    expect(countHosts(parseTargetSpec('10.0.0.0/16'))).toBe(65536);
    expect(errorOf(() => parseTargetSpec('10.0.0.0/15')).details).toMatchObject({ token: '10.0.0.0/15', maxHosts: 65536 });
    expect(() => parseTargetSpec('0.0.0.0/0')).toThrow('exceeds the limit');
  });

  it('counts distinct hosts against the cap, not repeated ones', () => {
    expect(countHosts(parseTargetSpec('10.0.0.0/24 10.0.0.0/24 10.0.0.7', { maxHosts: 256 }))).toBe(256);
    expect(countHosts(parseTargetSpec('::1 ::1 0::1', { maxHosts: 1 }))).toBe(1);
  });

  it('selects exactly the hosts of its tokens (property)', () => {
    fc.assert(
      fc.property(specCase, ({ text, hosts }) => {
        const listed = listHosts(parseTargetSpec(text));
        expect(listed).toHaveLength(hosts.size);
        expect(new Set(listed)).toEqual(hosts);
      }),
      { numRuns: 150 },
    );
  });

  it('reparses its canonical text to an equal spec (property)', () => {
    fc.assert(
      fc.property(specCase, ({ text }) => {
        const spec = parseTargetSpec(text);
        const again = parseTargetSpec(formatTargetSpec(spec));
        expect(again).toEqual(spec);
        expect(formatTargetSpec(again)).toBe(formatTargetSpec(spec));
      }),
      { numRuns: 150 },
    );
  });
});
