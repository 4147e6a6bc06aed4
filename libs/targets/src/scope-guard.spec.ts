import fc from 'fast-check';
import { DEFAULT_SCOPE, ScopeGuard } from './scope-guard';
import { parseTargetSpec } from './target-spec.parser';
import { ipv4ToString } from './ipv4';
import { errorOf } from './test/domain-error.helper';


describe('ScopeGuard', () => {
  const loopback = new ScopeGuard(DEFAULT_SCOPE);

  it('allows loopback only by default', () => {
    expect(loopback.isAllowed('127.0.0.1')).toBe(true);
    expect(loopback.isAllowed('127.255.255.255')).toBe(true);
    expect(loopback.isAllowed('::1')).toBe(true);
    expect(loopback.isAllowed('0:0:0:0:0:0:0:1')).toBe(true);
    expect(loopback.isAllowed('10.0.0.5')).toBe(false);
    expect(loopback.isAllowed('::2')).toBe(false);
    expect(loopback.isAllowed('not-an-address')).toBe(false);
  });

  it('names the first address outside the scope and what is allowed', () => {
    const error = errorOf(() => loopback.check(parseTargetSpec('127.0.0.1 10.0.0.5-9')));
    expect(error.code).toBe('out_of_scope');
    expect(error.message).toBe('target 10.0.0.5 is outside the allowed scope (allowed: 127.0.0.0/8, ::1/128)');
    expect(error.details).toMatchObject({ address: '10.0.0.5', allowed: ['127.0.0.0/8', '::1/128'] });
  });

  it('finds the first address of a range that leaves the scope', () => {
    const error = errorOf(() => loopback.check(parseTargetSpec('127.255.255.250-128.0.0.3')));
    expect(error.details.address).toBe('128.0.0.0');
    expect(() => loopback.check(parseTargetSpec('127.0.0.1-20 ::1'))).not.toThrow();
  });

  it('carves exclusions out of allowed blocks', () => {
    const guard = new ScopeGuard({ allow: ['10.0.0.0/8', 'fd00::/8'], exclude: ['10.0.5.0/24', 'fd00::5/128'] });
    expect(guard.isAllowed('10.0.4.255')).toBe(true);
    expect(guard.isAllowed('10.0.5.7')).toBe(false);
    expect(guard.isAllowed('fd00::5')).toBe(false);
    expect(guard.isAllowed('fd00::6')).toBe(true);
    const error = errorOf(() => guard.check(parseTargetSpec('10.0.4.250-10.0.5.3', { maxHosts: 100 })));
    expect(error.message).toBe(
      'target 10.0.5.0 is outside the allowed scope (allowed: 10.0.0.0/8, fd00::/8; excluded: 10.0.5.0/24, fd00::5/128)',
    );
    expect(errorOf(() => guard.check(parseTargetSpec('fd00::4/126'))).details.address).toBe('fd00::5');
  });

  it('checks whole ranges without enumerating hosts', () => {
    const guard = new ScopeGuard({ allow: ['0.0.0.0/0'], exclude: ['255.255.255.255/32'] });
    const started = Date.now();
    expect(() => guard.check({ entries: [{ kind: 'ipv4', from: 0, to: 0xfffffffe }] })).not.toThrow();
    const error = errorOf(() => guard.check({ entries: [{ kind: 'ipv4', from: 0, to: 0xffffffff }] }));
    expect(error.details.address).toBe('255.255.255.255');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('judges IPv4-mapped IPv6 addresses by the IPv4 rules', () => {
    const guard = new ScopeGuard({ allow: ['10.0.0.0/8', '::/0'], exclude: ['10.0.0.5/32'] });
    expect(guard.isAllowed('::ffff:10.0.0.4')).toBe(true);
    expect(guard.isAllowed('::ffff:10.0.0.5')).toBe(false);
    expect(loopback.isAllowed('::ffff:127.0.0.1')).toBe(true);
  });

  it('asks for host names to be resolved first', () => {
    const error = errorOf(() => loopback.check(parseTargetSpec('localhost')));
    expect(error.code).toBe('out_of_scope');
    expect(error.message).toBe('host name "localhost" must be resolved to addresses before the scope check');
  });

  it('rejects malformed scope blocks as configuration errors', () => {
    expect(errorOf(() => new ScopeGuard({ allow: ['10.0.0.0/8', '10.0.0/8'], exclude: [] })).code).toBe('invalid_config');
    expect(() => new ScopeGuard({ allow: [], exclude: ['10.1.0.0/8'] })).toThrow('did you mean 10.0.0.0/8?');
  });

  it('allows nothing with an empty allow list', () => {
    const guard = new ScopeGuard({ allow: [], exclude: [] });
    expect(guard.isAllowed('127.0.0.1')).toBe(false);
    expect(() => guard.check(parseTargetSpec('127.0.0.1'))).toThrow('(allowed: nothing)');
  });

  it('check agrees with isAllowed host by host (property)', () => {
    const block = fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 26, max: 32 }))
      .map(([offset, prefix]) => {
        const size = 2 ** (32 - prefix);
        return `${ipv4ToString(0x0a000000 + Math.floor(offset / size) * size)}/${prefix}`;
      });
    const range = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(block, { maxLength: 4 }), fc.array(block, { maxLength: 3 }), range, (allow, exclude, [a, b]) => {
        const guard = new ScopeGuard({ allow, exclude });
        const [from, to] = [Math.min(a, b), Math.max(a, b)];
        const spec = parseTargetSpec(`10.0.0.${from}-${to}`);
        const firstOutside = [...Array(to - from + 1).keys()]
          .map((i) => `10.0.0.${from + i}`)
          .find((address) => !guard.isAllowed(address));
        const inBlock = (address: string, cidr: string): boolean => {
          const [net, prefix] = cidr.split('/');
          const size = 2 ** (32 - Number(prefix));
          const last = (s: string): number => Number(s.split('.')[3]);
          return last(address) >= last(net) && last(address) < last(net) + size;
        };
        for (let x = from; x <= to; x++) {
          const address = `10.0.0.${x}`;
          const expected = allow.some((c) => inBlock(address, c)) && !exclude.some((c) => inBlock(address, c));
          expect(guard.isAllowed(address)).toBe(expected);
        }
        if (firstOutside === undefined) expect(() => guard.check(spec)).not.toThrow();
        else expect(errorOf(() => guard.check(spec)).details.address).toBe(firstOutside);
      }),
      { numRuns: 150 },
    );
  });
});
