import fc from 'fast-check';
import { ASA_RUNNING_CONFIG, ASA_SOCKET_TABLE, fill, IOS_OPEN_PORTS, IOS_RUNNING_CONFIG, JUNOS_CONNECTIONS, JUNOS_SET_CONFIG, WINDOWS_REGISTRY } from '../testing/device.samples';
import { PROFILES } from '../profiles/device.profiles';
import { configLineKey, parseIndentedConfig, parseJunosSetConfig } from './config.parsers';
import { parseFirewallRule } from './firewall-rule.parser';
import { parseAsaSocketTable, parseIosOpenPorts, parseJunosConnections } from './open-ports.parsers';
import { parseRegFile } from './reg-file.parser';

const profile = (id: string) => PROFILES.find((p) => p.id === id) as unknown as { config: { volatile: RegExp[]; commentPrefixes: string[] } };
const ports = (sockets: { protocol: string; port: number; bindAddress: string }[]) => sockets.map((s) => `${s.protocol}/${s.port}@${s.bindAddress}`);

describe('open-port listings', () => {
  it('reads IOS control-plane listeners, not established sessions, with the service names', () => {
    const sockets = parseIosOpenPorts(IOS_OPEN_PORTS);
    expect(ports(sockets)).toEqual(['tcp/22@*', 'tcp/23@*', 'tcp/80@*', 'udp/123@*', 'udp/161@*', 'udp/162@*']);
    expect(sockets.find((s) => s.port === 80)?.service).toBe('HTTP CORE');
  });

  it('reads the ASA socket table: SSL as TCP, DTLS as UDP, listeners only', () => {
    expect(ports(parseAsaSocketTable(ASA_SOCKET_TABLE))).toEqual(['tcp/22@192.0.2.2', 'tcp/443@192.0.2.2', 'udp/161@192.0.2.2', 'udp/443@192.0.2.2']);
  });

  it('reads Junos connections: TCP in LISTEN and unconnected UDP', () => {
    expect(ports(parseJunosConnections(JUNOS_CONNECTIONS))).toEqual(['tcp/22@*', 'tcp/179@192.0.2.3', 'udp/123@*', 'udp/161@*']);
  });

  it('refuses output that is not the table, naming the command and the line', () => {
    expect(() => parseIosOpenPorts('% Invalid input detected at \'^\' marker.')).toThrow(/"show control-plane host open-ports" output line 1: expected the "Prot Local Address ..." header first/);
    expect(() => parseIosOpenPorts(`${IOS_OPEN_PORTS} tcp   *:notaport   *:0   X   LISTEN\n`)).toThrow(/output line 10: local address "\*:notaport" has no port/);
    expect(() => parseAsaSocketTable('')).toThrow(/no socket table in the output/);
    expect(() => parseJunosConnections(`${JUNOS_CONNECTIONS}sctp 0 0 *.9 *.* LISTEN\n`)).toThrow(/unknown protocol "sctp"/);
  });

  it('never throws anything but a clear error on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        for (const parse of [parseIosOpenPorts, parseAsaSocketTable, parseJunosConnections]) {
          try {
            parse(text);
          } catch (error) {
            expect((error as { code?: string }).code).toBe('invalid_output');
          }
        }
      }),
    );
  });
});

describe('configuration lines', () => {
  it('keys IOS lines by their section and leaves out comments, the preamble and volatile lines', () => {
    const lines = parseIndentedConfig(fill(IOS_RUNNING_CONFIG), profile('cisco-ios').config);
    const keys = lines.map(configLineKey);
    expect(keys).toContain('interface GigabitEthernet0/1 :: ip access-group USERS-IN in');
    expect(keys).toContain('line vty 0 4 :: transport input ssh');
    expect(keys).toContain('hostname lab-rtr1');
    expect(keys.some((k) => /Last configuration change|NVRAM|ntp clock-period|Current configuration|Building|^end$|^!/.test(k))).toBe(false);
  });

  it('turns a line added between two polls into exactly one new key, whatever the volatile lines did', () => {
    const before = new Set(parseIndentedConfig(fill(IOS_RUNNING_CONFIG), profile('cisco-ios').config).map(configLineKey));
    const changed = fill(IOS_RUNNING_CONFIG, { vty: ' transport input telnet\n' }).replace('10:41:07', '11:02:33').replace('17179864', '17179870');
    const after = parseIndentedConfig(changed, profile('cisco-ios').config).map(configLineKey);
    expect(after.filter((k) => !before.has(k))).toEqual(['line vty 0 4 :: transport input telnet']);
    expect([...before].filter((k) => !after.includes(k))).toEqual([]);
  });

  it('reads ASA and Junos configurations, leaving out their volatile lines', () => {
    const asa = parseIndentedConfig(fill(ASA_RUNNING_CONFIG), profile('cisco-asa').config).map(configLineKey);
    expect(asa).toContain('http server enable');
    expect(asa).toContain('interface GigabitEthernet1/1 :: nameif outside');
    expect(asa.some((k) => /Cryptochecksum|Serial Number|Saved/.test(k))).toBe(false);
    const junos = parseJunosSetConfig(fill(JUNOS_SET_CONFIG), profile('junos').config.volatile);
    expect(junos.map(configLineKey)).toContain('system :: set system services ssh root-login deny');
    expect(junos.some((l) => /set version|Last commit/.test(l.line))).toBe(false);
  });

  it('keeps nested sections apart and is stable for any indentation', () => {
    const lines = parseIndentedConfig('policy-map QOS\n class VOICE\n  priority 512\n class DATA\n  bandwidth 1000\n', { volatile: [], commentPrefixes: ['!'] });
    expect(lines.map(configLineKey)).toEqual(['policy-map QOS', 'policy-map QOS :: class VOICE', 'policy-map QOS > class VOICE :: priority 512', 'policy-map QOS :: class DATA', 'policy-map QOS > class DATA :: bandwidth 1000']);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(4), fc.stringMatching(/^[a-z0-9 ]{1,20}$/)), { maxLength: 30 }), (rows) => {
        const text = rows.map(([indent, t]) => `${' '.repeat(indent)}${t}`).join('\n');
        const once = parseIndentedConfig(text, { volatile: [], commentPrefixes: ['!'] });
        expect(parseIndentedConfig(text, { volatile: [], commentPrefixes: ['!'] })).toEqual(once);
        expect(new Set(once.map(configLineKey)).size).toBe(once.length);
      }),
    );
  });
});

describe('Windows registry', () => {
  it('reads a .reg export: strings with escapes, dwords, hex values and continuations', () => {
    const values = parseRegFile(WINDOWS_REGISTRY);
    expect(values.find((v) => v.name === 'PortNumber')).toMatchObject({ type: 'REG_DWORD', value: 3389 });
    expect(values.find((v) => v.name === 'RemoteDesktop-UserMode-In-TCP')?.value).toContain('App=%SystemRoot%\\system32\\svchost.exe');
    const multi = parseRegFile('REGEDIT4\n[HKLM\\X]\n"M"=hex(7):61,00,00,00,62,00,\\\n  00,00,00,00\n"Q"=hex(b):01,00,00,00,00,00,00,00\n');
    expect(multi).toEqual([
      { key: 'HKLM\\X', name: 'M', type: 'REG_MULTI_SZ', value: 'a\nb' },
      { key: 'HKLM\\X', name: 'Q', type: 'REG_QWORD', value: 1 },
    ]);
    expect(() => parseRegFile('REGEDIT4\n[HKLM\\X]\n"A"=what\n')).toThrow('registry export line 3: unknown value data (expected "text", dword: or hex:): "\\"A\\"=what"');
  });

  it('parses firewall rule strings into their fields, repeated fields sorted, absent ones as Windows reads them', () => {
    expect(parseFirewallRule('v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Private|Profile=Domain|LPort=3389|LPort=135|Svc=termservice|Name=RDP|')).toEqual({
      action: 'allow',
      direction: 'in',
      protocol: 'tcp',
      localPorts: '135,3389',
      remotePorts: 'any',
      profiles: 'domain,private',
      enabled: true,
      application: null,
      service: 'termservice',
      name: 'RDP',
    });
    expect(parseFirewallRule('v2.30|Action=Block|Active=FALSE|Dir=In|')).toMatchObject({ protocol: 'any', localPorts: 'any', profiles: 'all', enabled: false });
    expect(parseFirewallRule('not a rule')).toBeUndefined();
  });
});
