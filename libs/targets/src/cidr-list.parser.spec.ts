import { DomainError } from '@portolan/contracts/errors';
import { parseCidr, parseCidrList } from './cidr-list.parser';

describe('parseCidrList', () => {
  it('reads IPv4 and IPv6 blocks separated by commas or spaces', () => {
    const list = parseCidrList('127.0.0.0/8, ::1/128 10.0.0.5 FD00::/8');
    expect(list.map((c) => c.text)).toEqual(['127.0.0.0/8', '::1/128', '10.0.0.5/32', 'fd00::/8']);
    expect(list[0]).toMatchObject({ family: 'ipv4', from: 127 * 2 ** 24, to: 128 * 2 ** 24 - 1 });
  });

  it('returns an empty list for empty text', () => {
    expect(parseCidrList('  ')).toEqual([]);
  });

  it('rejects host bits and suggests the network', () => {
    expect(() => parseCidrList('127.0.0.0/8, 10.0.0.5/8')).toThrow(
      'invalid CIDR "10.0.0.5/8" at position 14: host bits are set (did you mean 10.0.0.0/8?)',
    );
    expect(() => parseCidr('fd00::1/64')).toThrow('did you mean fd00::/64?');
  });

  it('names the bad entry with a config error', () => {
    try {
      parseCidrList('10.0.0.0/8 10.0.0.0/40');
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      expect((error as DomainError).code).toBe('invalid_config');
      expect((error as DomainError).details).toEqual({ token: '10.0.0.0/40', position: 12 });
      expect((error as DomainError).message).toContain('prefix length /40 is out of range 0-32');
    }
  });
});
