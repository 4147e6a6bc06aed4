import fc from 'fast-check';
import { KeyPatternError, matchesKey, parseKeyPattern } from './key-pattern';

describe('port key patterns', () => {
  const matches = (pattern: string, key: string) => matchesKey(parseKeyPattern(pattern, 'port'), key);

  it('matches one port, a range, a protocol wildcard and any port', () => {
    expect(matches('tcp/443', 'tcp/443')).toBe(true);
    expect(matches('tcp/443', 'udp/443')).toBe(false);
    expect(matches('tcp/443', 'tcp/4430')).toBe(false);
    expect(matches('tcp/8000-8100', 'tcp/8000')).toBe(true);
    expect(matches('tcp/8000-8100', 'tcp/8100')).toBe(true);
    expect(matches('tcp/8000-8100', 'tcp/8101')).toBe(false);
    expect(matches('tcp/8000-8100', 'tcp/7999')).toBe(false);
    expect(matches('*/53', 'udp/53')).toBe(true);
    expect(matches('53', 'tcp/53')).toBe(true);
    expect(matches('udp/*', 'udp/65535')).toBe(true);
    expect(matches('UDP/*', 'tcp/1')).toBe(false);
  });

  it('matches self-scan keys by port whatever the bind address, or by a bind glob', () => {
    expect(matches('tcp/22', 'tcp/22@0.0.0.0')).toBe(true);
    expect(matches('tcp/22@127.0.0.*', 'tcp/22@127.0.0.5')).toBe(true);
    expect(matches('tcp/22@127.0.0.*', 'tcp/22@0.0.0.0')).toBe(false);
    expect(matches('tcp/22@127.0.0.*', 'tcp/22')).toBe(false);
    expect(matches('tcp/22@\\*', 'tcp/22@*')).toBe(true);
    expect(matches('tcp/22@\\*', 'tcp/22@::')).toBe(false);
  });

  it('refuses what is not a port pattern, naming it', () => {
    expect(() => parseKeyPattern('tcp/70000', 'port')).toThrow('port 70000 in "tcp/70000" is out of range (1-65535)');
    expect(() => parseKeyPattern('tcp/0', 'port')).toThrow('out of range');
    expect(() => parseKeyPattern('tcp/9000-8000', 'port')).toThrow('the range 9000-8000 in "tcp/9000-8000" ends before it starts');
    expect(() => parseKeyPattern('tcp/http', 'port')).toThrow('"tcp/http" is not a port pattern');
    expect(() => parseKeyPattern('icmp/1', 'port')).toThrow(KeyPatternError);
    expect(() => parseKeyPattern('', 'port')).toThrow('the pattern is empty');
    expect(() => parseKeyPattern('x'.repeat(501))).toThrow('at most 500');
    expect(() => parseKeyPattern('tcp/1\n')).toThrow('control character');
  });

  it('without an item type, a pattern that looks like a port spec must be a valid one', () => {
    expect(parseKeyPattern('tcp/443').kind).toBe('port');
    expect(() => parseKeyPattern('tcp/99999')).toThrow('out of range');
    expect(parseKeyPattern('ip route *').kind).toBe('glob');
  });

  it('property: tcp/A-B matches exactly the tcp ports from A to B, any bind address', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), fc.option(fc.ipV4()), (a, b, port, bind) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        const key = bind ? `tcp/${port}@${bind}` : `tcp/${port}`;
        expect(matches(`tcp/${from}-${to}`, key)).toBe(port >= from && port <= to);
        expect(matches(`udp/${from}-${to}`, key)).toBe(false);
      }),
    );
  });
});

describe('glob key patterns', () => {
  const matches = (pattern: string, key: string) => matchesKey(parseKeyPattern(pattern, 'config-line'), key);

  it('matches the whole key with * and ?, and \\ escapes', () => {
    expect(matches('ip route *', 'ip route 0.0.0.0 0.0.0.0 192.0.2.1')).toBe(true);
    expect(matches('ip route *', 'no ip route 1')).toBe(false);
    expect(matches('interface Gi0/? shutdown', 'interface Gi0/1 shutdown')).toBe(true);
    expect(matches('interface Gi0/? shutdown', 'interface Gi0/10 shutdown')).toBe(false);
    expect(matches('banner \\*', 'banner *')).toBe(true);
    expect(matches('banner \\*', 'banner x')).toBe(false);
    expect(matches('a.b', 'aXb')).toBe(false);
    expect(matches('(x)+[y]', '(x)+[y]')).toBe(true);
  });

  it('answers a pattern that backtracking regular expressions never finish', () => {
    // A regex engine explores ~5000^200 ways here; the matcher goes back only to the last *.
    expect(matches(`${'*a'.repeat(200)}b`, 'a'.repeat(5_000))).toBe(false);
    expect(matches(`${'*a'.repeat(200)}*`, 'a'.repeat(5_000))).toBe(true);
  });

  it('property: a key always matches itself escaped, and * matches every key', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s) && s.trim() !== ''), (key) => {
        expect(matches(key.replace(/[\\*?]/g, '\\$&'), key)).toBe(true);
        expect(matches('*', key)).toBe(true);
        expect(matches(`${key.replace(/[\\*?]/g, '\\$&')}?`, key)).toBe(false);
      }),
    );
  });
});
