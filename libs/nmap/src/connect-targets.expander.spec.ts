import { DomainError } from '@portolan/contracts/errors';
import { expandConnectTargets } from './connect-targets.expander';

function errorOf(action: () => unknown): DomainError {
  try {
    action();
  } catch (error) {
    if (error instanceof DomainError) return error;
  }
  throw new Error('expected a DomainError');
}

describe('expandConnectTargets', () => {
  it('expands single addresses and last-octet ranges in order, without duplicates', () => {
    expect(expandConnectTargets(['127.0.0.2-4', '127.0.0.9', '127.0.0.3'], false)).toEqual([
      '127.0.0.2',
      '127.0.0.3',
      '127.0.0.4',
      '127.0.0.9',
    ]);
  });

  it('expands IPv4 networks from their first address', () => {
    const hosts = expandConnectTargets(['10.1.2.77/30'], false);
    expect(hosts).toEqual(['10.1.2.76', '10.1.2.77', '10.1.2.78', '10.1.2.79']);
    expect(expandConnectTargets(['10.9.0.0/16'], false)).toHaveLength(65536);
  });

  it('takes single IPv6 addresses in an IPv6 scan', () => {
    expect(expandConnectTargets(['::1', 'fe80::1'], true)).toEqual(['::1', 'fe80::1']);
  });

  it('refuses host names, saying they need nmap', () => {
    const error = errorOf(() => expandConnectTargets(['intranet.example.test'], false));
    expect(error.code).toBe('invalid_target');
    expect(error.message).toMatch(/need nmap/);
  });

  it('refuses a family that does not match the scan', () => {
    expect(errorOf(() => expandConnectTargets(['::1'], false)).code).toBe('invalid_target');
    expect(errorOf(() => expandConnectTargets(['127.0.0.1'], true)).code).toBe('invalid_target');
  });

  it.each(['127.0.0.9-3', '127.0.0.1-256', '300.0.0.1-2', '10.0.0.0/33', '10.0.0.0/8', '127.0.0.1-20000'])(
    'refuses %s',
    (token) => {
      expect(errorOf(() => expandConnectTargets([token], false)).code).toBe('invalid_target');
    },
  );

  it('refuses target lists beyond the host limit', () => {
    expect(errorOf(() => expandConnectTargets(['10.0.0.0/24', '10.0.1.0/24'], false, 300)).message).toMatch(/more than 300/);
  });
});
