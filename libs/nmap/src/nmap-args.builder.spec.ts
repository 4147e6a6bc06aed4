import { DomainError } from '@portolan/contracts/errors';
import fc from 'fast-check';
import { assertSafeTargetToken, buildNmapArgs, formatNmapPortSpec } from './nmap-args.builder';
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
