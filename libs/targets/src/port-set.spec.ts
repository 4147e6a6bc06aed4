import fc from 'fast-check';
import { DomainError } from '@portolan/contracts/errors';
import { countPorts, formatPortRanges, portSetContains, toNmapPortArg } from './port-set';
import { buildPortSet, parsePortList } from './port-spec.parser';

describe('port sets', () => {
  const set = buildPortSet([
    { range: '22,80,8000-8100', protocol: 'tcp' },
    { range: '53', protocol: 'udp' },
  ]);

  it('formats ranges as a list parsePortList reads back', () => {
    expect(formatPortRanges(set.tcp)).toBe('22,80,8000-8100');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 20 }), (ports) => {
        const ranges = parsePortList(ports.join(','));
        expect(parsePortList(formatPortRanges(ranges))).toEqual(ranges);
      }),
      { numRuns: 100 },
    );
  });

  it('counts ports per protocol', () => {
    expect(countPorts(set)).toEqual({ tcp: 103, udp: 1, total: 104 });
  });

  it('answers membership per protocol', () => {
    expect(portSetContains(set, 'tcp', 8050)).toBe(true);
    expect(portSetContains(set, 'tcp', 8101)).toBe(false);
    expect(portSetContains(set, 'tcp', 53)).toBe(false);
    expect(portSetContains(set, 'udp', 53)).toBe(true);
    expect(portSetContains(set, 'udp', 1)).toBe(false);
  });

  it('builds the nmap -p argument', () => {
    expect(toNmapPortArg(set)).toBe('T:22,80,8000-8100,U:53');
    expect(toNmapPortArg({ tcp: [{ from: 443, to: 443 }], udp: [] })).toBe('T:443');
    expect(toNmapPortArg({ tcp: [], udp: [{ from: 1, to: 2 }] })).toBe('U:1-2');
    expect(() => toNmapPortArg({ tcp: [], udp: [] })).toThrow(DomainError);
  });
});
