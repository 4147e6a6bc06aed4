import fc from 'fast-check';
import { buildPortSet, parsePortList } from './port-spec.parser';
import type { PortRule } from './port-spec.model';
import { errorOf } from './test/domain-error.helper';


describe('parsePortList', () => {
  it('reads single ports, ranges and lists, sorted and merged', () => {
    expect(parsePortList('22')).toEqual([{ from: 22, to: 22 }]);
    expect(parsePortList('1-1024')).toEqual([{ from: 1, to: 1024 }]);
    expect(parsePortList('8000-8100,80, 22')).toEqual([
      { from: 22, to: 22 },
      { from: 80, to: 80 },
      { from: 8000, to: 8100 },
    ]);
    expect(parsePortList('80,81,82-90,85')).toEqual([{ from: 80, to: 90 }]);
  });

  it('allows spaces as separators and around a dash', () => {
    expect(parsePortList(' 22 443 , 1000 - 1002,2000 -2001, 3000- 3001 ')).toEqual([
      { from: 22, to: 22 },
      { from: 443, to: 443 },
      { from: 1000, to: 1002 },
      { from: 2000, to: 2001 },
      { from: 3000, to: 3001 },
    ]);
  });

  it('reads open-ended ranges as nmap does', () => {
    expect(parsePortList('-100')).toEqual([{ from: 1, to: 100 }]);
    expect(parsePortList('65000-')).toEqual([{ from: 65000, to: 65535 }]);
    expect(parsePortList('-')).toEqual([{ from: 1, to: 65535 }]);
  });

  it.each([
    ['22,70000', 'invalid port list: "70000" at position 4 is out of range 1-65535', '70000', 4],
    ['0', 'invalid port list: "0" at position 1 is out of range 1-65535', '0', 1],
    ['22, 100-20', 'invalid port list: "100-20" at position 5 is a reversed range (100 > 20)', '100-20', 5],
    ['22,ssh', 'invalid port list: "ssh" at position 4 is not a port or port range (e.g. 22 or 1-1024)', 'ssh', 4],
    ['1-2-3', 'invalid port list: "1-2-3" at position 1 is not a port or port range (e.g. 22 or 1-1024)', '1-2-3', 1],
    [' , ', 'invalid port list: port list is empty', '', 1],
  ])('rejects %p', (input, message, token, position) => {
    const error = errorOf(() => parsePortList(input));
    expect(error.code).toBe('invalid_port_spec');
    expect(error.message).toBe(message);
    expect(error.details).toEqual({ token, position });
  });
});

describe('buildPortSet', () => {
  it('unites includes and removes excludes per protocol', () => {
    const set = buildPortSet([
      { range: '1-100', protocol: 'tcp' },
      { range: '53', protocol: 'both' },
      { range: '20-30', protocol: 'tcp', exclude: true },
      { range: '53', protocol: 'udp', exclude: true },
      { range: '161-162', protocol: 'udp' },
    ]);
    expect(set).toEqual({
      tcp: [
        { from: 1, to: 19 },
        { from: 31, to: 100 },
      ],
      udp: [{ from: 161, to: 162 }],
    });
  });

  it('names the rule and token of a bad range', () => {
    const error = errorOf(() => buildPortSet([{ range: '22', protocol: 'tcp' }, { range: '70000', protocol: 'udp' }]));
    expect(error.message).toBe('port rule 2: "70000" at position 1 is out of range 1-65535');
    expect(error.details).toEqual({ token: '70000', position: 1, rule: 1 });
  });

  it('rejects an unknown protocol', () => {
    const rule = { range: '1', protocol: 'icmp' } as unknown as PortRule;
    expect(errorOf(() => buildPortSet([rule])).message).toBe('port rule 1: protocol "icmp" must be tcp, udp or both');
  });

  it('rejects rules that select no ports', () => {
    expect(errorOf(() => buildPortSet([])).message).toBe('port rules select no ports');
    const error = errorOf(() =>
      buildPortSet([
        { range: '22', protocol: 'tcp' },
        { range: '1-1024', protocol: 'both', exclude: true },
      ]),
    );
    expect(error.code).toBe('invalid_port_spec');
    expect(error.message).toBe('port rules select no ports');
  });

  it('matches a brute-force set computation (property)', () => {
    const range = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 6 })).map(([from, len]) => ({
      from,
      to: Math.min(40, from + len),
    }));
    const rule = fc.record({
      ranges: fc.array(range, { minLength: 1, maxLength: 3 }),
      protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'both' as const),
      exclude: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(rule, { maxLength: 6 }), (generated) => {
        const rules: PortRule[] = generated.map((r) => ({
          range: r.ranges.map(({ from, to }) => (from === to ? `${from}` : `${from}-${to}`)).join(', '),
          protocol: r.protocol,
          exclude: r.exclude,
        }));
        const expected = { tcp: new Set<number>(), udp: new Set<number>() };
        for (const pass of [false, true]) {
          for (const r of generated.filter((g) => g.exclude === pass)) {
            const protocols = r.protocol === 'both' ? (['tcp', 'udp'] as const) : ([r.protocol] as const);
            for (const p of protocols) {
              for (const { from, to } of r.ranges) {
                for (let port = from; port <= to; port++) {
                  if (pass) expected[p].delete(port);
                  else expected[p].add(port);
                }
              }
            }
          }
        }
        if (expected.tcp.size + expected.udp.size === 0) {
          expect(() => buildPortSet(rules)).toThrow('port rules select no ports');
          return;
        }
        const set = buildPortSet(rules);
        for (const p of ['tcp', 'udp'] as const) {
          const actual = set[p].flatMap(({ from, to }) => Array.from({ length: to - from + 1 }, (_, i) => from + i));
          expect(actual).toEqual([...expected[p]].sort((a, b) => a - b));
          for (let i = 1; i < set[p].length; i++) expect(set[p][i].from).toBeGreaterThan(set[p][i - 1].to + 1);
        }
      }),
      { numRuns: 200 },
    );
  });
});
