import fc from 'fast-check';
import { DomainError } from '@portolan/contracts/errors';
import { countPorts, formatPortRanges, intersectPortSets, portSetContains, toNmapPortArg } from './port-set';
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

describe('intersectPortSets', () => {
  it('keeps only the ports in both sets, per protocol', () => {
    const a = { tcp: [{ from: 1, to: 100 }, { from: 200, to: 300 }], udp: [{ from: 53, to: 53 }] };
    const b = { tcp: [{ from: 50, to: 250 }], udp: [{ from: 1, to: 52 }] };
    expect(intersectPortSets(a, b)).toEqual({ tcp: [{ from: 50, to: 100 }, { from: 200, to: 250 }], udp: [] });
  });

  it('agrees with portSetContains on every port (property)', () => {
    const ranges = fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 40 })), { maxLength: 6 }).map((pairs) => {
      const sorted = pairs.map(([from, len]) => ({ from, to: Math.min(400, from + len) })).sort((p, q) => p.from - q.from);
      const merged: { from: number; to: number }[] = [];
      for (const r of sorted) {
        const last = merged[merged.length - 1];
        if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
        else merged.push({ ...r });
      }
      return merged;
    });
    fc.assert(
      fc.property(ranges, ranges, (x, y) => {
        const a = { tcp: x, udp: [] };
        const b = { tcp: y, udp: [] };
        const both = intersectPortSets(a, b);
        for (let port = 1; port <= 400; port += 1) {
          expect(portSetContains(both, 'tcp', port)).toBe(portSetContains(a, 'tcp', port) && portSetContains(b, 'tcp', port));
        }
      }),
      { numRuns: 100 },
    );
  });
});
