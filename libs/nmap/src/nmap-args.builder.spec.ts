import { DomainError } from '@portolan/contracts/errors';
import fc from 'fast-check';
import { assertSafeTargetToken, buildNmapArgs, formatNmapPortSpec, MAX_PACED_SCAN_MS, pacedScanMs, slowestScanRate } from './nmap-args.builder';
import type { NmapArgsRequest } from './nmap-args.builder';

const base: NmapArgsRequest = {
  targets: ['127.0.0.2-4'],
  ipv6: false,
  ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] },
  tcpTechnique: 'connect',
};

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return error instanceof DomainError ? error.code : 'not-a-domain-error';
  }
  return undefined;
}

describe('buildNmapArgs', () => {
  it('builds a TCP connect scan with XML on stdout, progress, no DNS and bounded retries', () => {
    expect(buildNmapArgs(base)).toEqual([
      '-oX', '-', '--stats-every', '2s', '-n', '--max-retries', '2', '-sT', '-p', 'T:40000-40100', '127.0.0.2-4',
    ]);
  });

  it('does not ask for --open, so closed ports stay visible', () => {
    expect(buildNmapArgs(base)).not.toContain('--open');
  });

  it('uses -sS for a SYN scan', () => {
    const args = buildNmapArgs({ ...base, tcpTechnique: 'syn' });
    expect(args).toContain('-sS');
    expect(args).not.toContain('-sT');
  });

  it('adds -sU and a U: section for UDP ports, and no TCP scan type when there are no TCP ports', () => {
    const both = buildNmapArgs({ ...base, ports: { tcp: [{ from: 22, to: 22 }, { from: 80, to: 90 }], udp: [{ from: 53, to: 53 }] } });
    expect(both).toEqual(expect.arrayContaining(['-sT', '-sU', '-p', 'T:22,80-90,U:53']));

    const udpOnly = buildNmapArgs({ ...base, ports: { tcp: [], udp: [{ from: 161, to: 162 }] } });
    expect(udpOnly).toEqual(expect.arrayContaining(['-sU', '-p', 'U:161-162']));
    expect(udpOnly).not.toContain('-sT');
  });

  it('adds -6, -Pn and --host-timeout in milliseconds when asked', () => {
    const args = buildNmapArgs({ ...base, targets: ['::1'], ipv6: true, skipHostDiscovery: true, hostTimeoutMs: 1500.2 });
    expect(args).toEqual(expect.arrayContaining(['-6', '-Pn', '--host-timeout', '1501ms']));
    expect(args.at(-1)).toBe('::1');
  });

  it('paces the scan with --max-rate when asked, fractions kept, and refuses a rate that is no pace', () => {
    expect(buildNmapArgs({ ...base, maxRate: 0.5 })).toEqual(expect.arrayContaining(['--max-rate', '0.5']));
    expect(buildNmapArgs({ ...base, maxRate: 300 }).slice(-3)).toEqual(['--max-rate', '300', '127.0.0.2-4']);
    expect(buildNmapArgs(base)).not.toContain('--max-rate');
    for (const maxRate of [0, -1, Number.POSITIVE_INFINITY, Number.NaN, 1_000_001]) expect(codeOf(() => buildNmapArgs({ ...base, maxRate }))).toBe('invalid_payload');
  });

  it('gives a paced scan the time its probes need at its rate, retries and host discovery included', () => {
    // 101 ports of 3 hosts, and 4 discovery probes each: 315 probes, each sent up to 3 times, 10 a second.
    expect(pacedScanMs(303, 3, 10)).toBe(94_500);
    expect(pacedScanMs(303, 3, undefined)).toBe(0);
    expect(pacedScanMs(303, 3, null)).toBe(0);
    expect(() => pacedScanMs(303, 3, 0)).toThrow('maxRate must be a number of probes a second above 0');
  });

  it('tells the slowest pace at which one nmap fits in the longest paced scan', () => {
    const least = slowestScanRate(303, 3);
    expect(pacedScanMs(303, 3, least)).toBeLessThanOrEqual(MAX_PACED_SCAN_MS + 1);
    expect(pacedScanMs(303, 3, least * 0.99)).toBeGreaterThan(MAX_PACED_SCAN_MS);
  });

  it('puts the targets last, each as its own argument', () => {
    const args = buildNmapArgs({ ...base, targets: ['10.0.0.0/24', 'fe80::1%eth0', 'host-1.example.test'] });
    expect(args.slice(-3)).toEqual(['10.0.0.0/24', 'fe80::1%eth0', 'host-1.example.test']);
  });

  it.each([
    ['-iL/etc/passwd'],
    ['--script=evil'],
    ['127.0.0.1 -oN x'],
    ['a;b'],
    ['$(id)'],
    ['`id`'],
    ['a|b'],
    ['10.0.0.*'],
    ['x\ny'],
    [''],
  ])('refuses the target token %j', (token) => {
    expect(codeOf(() => buildNmapArgs({ ...base, targets: [token] }))).toBe('invalid_target');
  });

  it('refuses an empty target list', () => {
    expect(codeOf(() => buildNmapArgs({ ...base, targets: [] }))).toBe('invalid_target');
  });

  it('refuses a request without ports and ranges outside 1-65535 or reversed', () => {
    expect(codeOf(() => buildNmapArgs({ ...base, ports: { tcp: [], udp: [] } }))).toBe('invalid_port_spec');
    expect(codeOf(() => formatNmapPortSpec({ tcp: [{ from: 1, to: 65536 }], udp: [] }))).toBe('invalid_port_spec');
    expect(codeOf(() => formatNmapPortSpec({ tcp: [{ from: 0, to: 5 }], udp: [] }))).toBe('invalid_port_spec');
    expect(codeOf(() => formatNmapPortSpec({ tcp: [{ from: 90, to: 80 }], udp: [] }))).toBe('invalid_port_spec');
    expect(codeOf(() => formatNmapPortSpec({ tcp: [], udp: [{ from: 1.5, to: 2 }] }))).toBe('invalid_port_spec');
  });

  it('refuses a non-positive host timeout', () => {
    expect(codeOf(() => buildNmapArgs({ ...base, hostTimeoutMs: 0 }))).toBe('invalid_payload');
  });

  it('never lets a token that could be read as an option through (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (token) => {
        let accepted = true;
        try {
          assertSafeTargetToken(token);
        } catch {
          accepted = false;
        }
        if (accepted) {
          expect(token.startsWith('-')).toBe(false);
          expect(token).toMatch(/^[A-Za-z0-9.:\-/,%_]+$/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
