import fc from 'fast-check';
import { normalizeBindAddress, parsePort, parseSocketAddress } from './socket-address';
import { canonicalIpv6, portArbitrary, zoneArbitrary } from './test/socket.arbitraries';

describe('parseSocketAddress', () => {
  it.each([
    ['0.0.0.0:22', '0.0.0.0', 22],
    ['[::]:22', '::', 22],
    ['*:68', '0.0.0.0', 68],
    ['127.0.0.53%lo:53', '127.0.0.53', 53],
    ['[fe80::1%eth0]:546', 'fe80::1', 546],
    ['[fe80::5054:ff:fe12:3456]%enp1s0:546', 'fe80::5054:ff:fe12:3456', 546],
    ['[::ffff:127.0.0.1]:8080', '127.0.0.1', 8080],
    [':::22', '::', 22],
    ['::1:631', '::1', 631],
    ['[FE80:0:0:0:0:0:0:1]:80', 'fe80::1', 80],
    ['[fe80::8d4c:2b1a:94e3:1f07%6]:1900', 'fe80::8d4c:2b1a:94e3:1f07', 1900],
    ['[2001:db8:0:0:1:0:0:1]:65535', '2001:db8::1:0:0:1', 65535],
  ])('reads %s as %s port %d', (text, address, port) => {
    expect(parseSocketAddress(text, '0.0.0.0')).toEqual({ ok: true, value: { address, port } });
  });

  it('reads the wildcard as the family the caller names', () => {
    expect(parseSocketAddress('*:22', '::')).toEqual({ ok: true, value: { address: '::', port: 22 } });
  });

  it.each([
    ['0.0.0.0:ssh', 'port "ssh" is not a decimal number'],
    ['0.0.0.0:0', 'port 0 is out of range 1-65535'],
    ['0.0.0.0:65536', 'port 65536 is out of range 1-65535'],
    ['0.0.0.0:', 'port "" is not a decimal number'],
    ['0.0.0.0', 'has no ":port"'],
    ['[::1:22', 'has "[" without "]"'],
    ['[::1]22', 'has no ":port" after "]"'],
    [':22', 'has no address before the port'],
    ['localhost:22', '"localhost" is not an IP address'],
    ['300.1.1.1:80', 'octet 300 is out of range'],
    ['[::1::2]:80', '"::" may appear only once'],
    ['%lo:53', 'malformed zone suffix'],
    ['127.0.0.1%:53', 'malformed zone suffix'],
  ])('rejects %s', (text, reason) => {
    const result = parseSocketAddress(text, '0.0.0.0');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });
});

describe('parseSocketAddress properties', () => {
  it('splits any IPv4 address and port, with or without an interface suffix', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.option(zoneArbitrary, { nil: undefined }), portArbitrary, (address, zone, port) => {
        const text = `${address}${zone === undefined ? '' : `%${zone}`}:${port}`;
        expect(parseSocketAddress(text, '::')).toEqual({ ok: true, value: { address, port } });
      }),
    );
  });

  it('splits any IPv6 address and port, bracketed (zone inside or after) or not (last colon)', () => {
    const forms = [
      (a: string) => `[${a}]`,
      (a: string, zone: string) => `[${a}%${zone}]`,
      (a: string, zone: string) => `[${a}]%${zone}`,
      (a: string) => a,
    ];
    fc.assert(
      fc.property(fc.ipV6(), zoneArbitrary, portArbitrary, fc.constantFrom(...forms), (address, zone, port, form) => {
        const text = `${form(address, zone)}:${port}`;
        expect(parseSocketAddress(text, '0.0.0.0')).toEqual({ ok: true, value: { address: canonicalIpv6(address), port } });
      }),
    );
  });

  it('rejects every port outside 1-65535 and every non-decimal port', () => {
    const badPort = fc.oneof(
      fc.constant('0'),
      fc.integer({ min: 65536, max: 99999 }).map(String),
      fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !/^[0-9]+$/.test(s)),
    );
    fc.assert(
      fc.property(fc.ipV4(), badPort, (address, port) => {
        expect(parseSocketAddress(`${address}:${port}`, '0.0.0.0').ok).toBe(false);
      }),
    );
  });
});

describe('normalizeBindAddress', () => {
  it('reduces IPv4-mapped IPv6 to IPv4 but keeps other IPv6 as IPv6', () => {
    expect(normalizeBindAddress('::ffff:10.0.0.1', '0.0.0.0')).toEqual({ ok: true, value: '10.0.0.1' });
    expect(normalizeBindAddress('::ffff:a00:1', '0.0.0.0')).toEqual({ ok: true, value: '10.0.0.1' });
    expect(normalizeBindAddress('64:ff9b::10.0.0.1', '0.0.0.0')).toEqual({ ok: true, value: '64:ff9b::a00:1' });
  });
});

describe('parsePort', () => {
  it('accepts 1 and 65535 and rejects signs, spaces and leading plus', () => {
    expect(parsePort('1')).toEqual({ ok: true, value: 1 });
    expect(parsePort('65535')).toEqual({ ok: true, value: 65535 });
    for (const text of ['-1', '+22', ' 22', '2 2', '22.0', '123456']) expect(parsePort(text).ok).toBe(false);
  });
});
