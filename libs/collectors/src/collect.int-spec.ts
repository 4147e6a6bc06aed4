import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:net';
import { collectDevice, CollectInput } from './collect';
import { profileById } from './profiles/device.profiles';
import { EmulatedDeviceState } from './testing/device.emulator';
import { WINDOWS_REGISTRY } from './testing/device.samples';
import { newEd25519KeyPair, RunningEmulator, startSshDevice, startTelnetDevice } from './testing/device.servers';
import { prepareTestUser, RealServer, startSamba, startSshd, startTelnetd, TEST_USER } from './testing/real-servers';
import { HostKey, HostKeyChangedError } from './transports/ssh.transport';

const PORTS = { tcp: [{ from: 1, to: 65535 }], udp: [{ from: 1, to: 65535 }] };
/**
 * The tracker ports of the Linux readouts (every socket of this machine): below the ephemeral
 * range (32768-60999), so that only the listeners these tests open are in it, never an
 * emulator's (or another suite's) port that happened to be given one (CI saw 40419).
 */
const LISTENER_PORTS = { tcp: [{ from: 30400, to: 30499 }], udp: [] };

const base = (over: Partial<CollectInput>): CollectInput => ({
  protocol: 'ssh',
  profile: profileById('linux')!,
  host: '127.0.0.1',
  port: 22,
  ports: PORTS,
  credential: { username: TEST_USER },
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 10_000,
  maxOutputBytes: 8 * 1024 * 1024,
  ...over,
});
const portKeys = (ports: { protocol: string; port: number; bindAddress?: string }[]) => ports.map((p) => `${p.protocol}/${p.port}@${p.bindAddress}`);

function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** collectDevice against real OpenSSH, inetutils telnetd and Samba on loopback, and emulated network devices. */
describe('collectDevice (real servers on loopback)', () => {
  let password: string;
  const key = newEd25519KeyPair();
  const started: { stop?: () => Promise<void>; close?: () => Promise<void> }[] = [];

  beforeAll(() => {
    password = prepareTestUser();
  });
  afterAll(async () => {
    for (const s of started.reverse()) await (s.stop ?? s.close)?.call(s);
  }, 30_000);

  describe('Linux over SSH (OpenSSH sshd on 127.0.0.1:2222)', () => {
    let sshd: Awaited<ReturnType<typeof startSshd>>;
    let pinned: HostKey;

    beforeAll(async () => {
      sshd = await startSshd({ port: 2222, authorizedKeys: `${key.public}\n` });
      started.push(sshd);
    }, 30_000);

    it('lists the listening sockets with ss, as a self-scan would, inside the tracker ports, and reports the host key to pin', async () => {
      const listener = await listen('127.0.0.91', 30401);
      try {
        const outcome = await collectDevice(base({ port: sshd.port, ports: LISTENER_PORTS, credential: { username: TEST_USER, password } }));
        expect(outcome.engine).toBe('ssh');
        expect(outcome.engineVersion).toMatch(/OpenSSH/);
        expect(outcome.args).toEqual(['ss -tulpnH']);
        expect(portKeys(outcome.host.ports)).toEqual(['tcp/30401@127.0.0.91']);
        expect(outcome.hostKey?.algorithm).toBe('ssh-ed25519');
        const fingerprint = (await import('node:child_process')).execFileSync('ssh-keygen', ['-lf', `${sshd.hostKeyFile}.pub`]).toString().split(' ')[1];
        expect(outcome.hostKey?.fingerprint).toBe(fingerprint);
        pinned = outcome.hostKey!;
      } finally {
        listener.close();
      }
      const after = await collectDevice(base({ port: sshd.port, ports: LISTENER_PORTS, pinnedHostKey: pinned, credential: { username: TEST_USER, privateKey: key.private } }));
      expect(after.host.ports).toEqual([]);
    }, 30_000);

    it('refuses a changed host key, naming both fingerprints, and wrong credentials', async () => {
      sshd.regenerateHostKey();
      await sshd.restart();
      const refused = collectDevice(base({ port: sshd.port, pinnedHostKey: pinned, credential: { username: TEST_USER, password } }));
      await expect(refused).rejects.toBeInstanceOf(HostKeyChangedError);
      await expect(refused).rejects.toThrow(new RegExp(`pinned ssh-ed25519 ${pinned.fingerprint.replace(/[+/]/g, '\\$&')}, presented ssh-ed25519 SHA256:`));
      const started = Date.now();
      await expect(collectDevice(base({ port: sshd.port, credential: { username: TEST_USER, password: 'wrong' } }))).rejects.toThrow(`the device refused the credentials of user "${TEST_USER}"`);
      expect(Date.now() - started).toBeLessThan(8_000);
      await expect(collectDevice(base({ port: 2229, credential: { username: TEST_USER, password } }))).rejects.toThrow('SSH to 127.0.0.1:2229: connection refused');
    }, 30_000);
  });

  describe('network devices over SSH and Telnet (emulators on 127.0.0.x)', () => {
    const login = { username: 'netops', password: `np-${randomBytes(6).toString('hex')}` };
    const state = (hostname: string): EmulatedDeviceState => ({ hostname, configExtras: {}, enableSecret: 'en-secret', clock: () => new Date().toISOString().slice(11, 19) });
    let ios: RunningEmulator;

    beforeAll(async () => {
      ios = await startSshDevice('cisco-ios', '127.0.0.92', login, state('lab-rtr1'));
      started.push(ios);
    });

    it('reads an IOS device in enable mode: its open ports and its configuration, a line added between polls is one new item', async () => {
      const input = base({ host: ios.host, port: ios.port, profile: profileById('cisco-ios')!, ports: { tcp: [{ from: 1, to: 1024 }], udp: [{ from: 1, to: 1024 }] }, credential: { ...login, enableSecret: 'en-secret' } });
      const first = await collectDevice(input);
      expect(portKeys(first.host.ports)).toEqual(['tcp/22@*', 'tcp/23@*', 'tcp/80@*', 'udp/123@*', 'udp/161@*', 'udp/162@*']);
      expect(first.coverage.itemTypes).toEqual(['config-line']);
      expect(first.args).toEqual(['show control-plane host open-ports', 'show running-config']);
      ios.state.configExtras['vty'] = ' transport input telnet\n';
      const second = await collectDevice({ ...input, pinnedHostKey: first.hostKey });
      const keys = (o: typeof first) => new Set((o.host.items ?? []).map((i) => i.key));
      expect([...keys(second)].filter((k) => !keys(first).has(k))).toEqual(['line vty 0 4 :: transport input telnet']);
      expect([...keys(first)].filter((k) => !keys(second).has(k))).toEqual([]);
    }, 30_000);

    it('says what is missing: no enable secret, a wrong one', async () => {
      const input = base({ host: ios.host, port: ios.port, profile: profileById('cisco-ios')! });
      await expect(collectDevice({ ...input, credential: login })).rejects.toThrow(/in user mode \(lab-rtr1>\) and the credential has no enable secret/);
      await expect(collectDevice({ ...input, credential: { ...login, enableSecret: 'nope' } })).rejects.toThrow('the device refused the enable secret');
    }, 30_000);

    it('reads the same profile over Telnet, and a wrong password fails in under 5 s', async () => {
      const telnet = await startTelnetDevice('cisco-ios', '127.0.0.93', login, state('lab-rtr2'));
      started.push(telnet);
      const input = base({ protocol: 'telnet', host: telnet.host, port: telnet.port, profile: profileById('cisco-ios')!, credential: { ...login, enableSecret: 'en-secret' } });
      const outcome = await collectDevice(input);
      expect(outcome.engine).toBe('telnet');
      expect((outcome.host.items ?? []).map((i) => i.key)).toContain('hostname lab-rtr2');
      const t0 = Date.now();
      await expect(collectDevice({ ...input, credential: { ...login, password: 'wrong' } })).rejects.toThrow(`the device refused the credentials of user "netops"`);
      expect(Date.now() - t0).toBeLessThan(5_000);
    }, 30_000);

    it('fails with the command and the line on garbage output, and refuses an output over the limit', async () => {
      const input = base({ host: ios.host, port: ios.port, profile: profileById('cisco-ios')!, credential: { ...login, enableSecret: 'en-secret' } });
      ios.state.garbagePorts = 'Prot Local Address Foreign Address Service State\n tcp *:http *:0 HTTP LISTEN\n';
      await expect(collectDevice(input)).rejects.toThrow('"show control-plane host open-ports" output line 2: local address "*:http" has no port: " tcp *:http *:0 HTTP LISTEN"');
      ios.state.garbagePorts = undefined;
      ios.state.hugeConfigBytes = 3 * 1024 * 1024;
      await expect(collectDevice({ ...input, maxOutputBytes: 1024 * 1024 })).rejects.toThrow('"show running-config" wrote more than 1048576 bytes; refused');
      ios.state.hugeConfigBytes = undefined;
    }, 30_000);

    it('reads ASA and Junos emulators', async () => {
      const asa = await startSshDevice('cisco-asa', '127.0.0.94', login, state('lab-asa1'));
      const junos = await startSshDevice('junos', '127.0.0.95', login, { ...state('lab-mx1'), enableSecret: undefined });
      started.push(asa, junos);
      const a = await collectDevice(base({ host: asa.host, port: asa.port, profile: profileById('cisco-asa')!, credential: { ...login, enableSecret: 'en-secret' } }));
      expect(portKeys(a.host.ports)).toEqual(['tcp/22@192.0.2.2', 'tcp/443@192.0.2.2', 'udp/161@192.0.2.2', 'udp/443@192.0.2.2']);
      expect((a.host.items ?? []).map((i) => i.key)).toContain('http server enable');
      const j = await collectDevice(base({ host: junos.host, port: junos.port, profile: profileById('junos')!, credential: login }));
      expect(portKeys(j.host.ports)).toEqual(['tcp/22@*', 'tcp/179@192.0.2.3', 'udp/123@*', 'udp/161@*']);
      expect((j.host.items ?? []).map((i) => i.key)).toContain('system :: set system services ssh root-login deny');
    }, 30_000);
  });

  describe('Linux over Telnet (inetutils telnetd on 127.0.0.1:2323)', () => {
    let telnetd: RealServer;
    beforeAll(async () => {
      telnetd = await startTelnetd({ port: 2323 });
      started.push(telnetd);
    }, 30_000);

    it('logs in and lists the sockets; a wrong password fails with the reason, without waiting for a timeout', async () => {
      const listener = await listen('127.0.0.96', 30402);
      try {
        const input = base({ protocol: 'telnet', port: telnetd.port, ports: LISTENER_PORTS, credential: { username: TEST_USER, password } });
        const outcome = await collectDevice(input);
        expect(portKeys(outcome.host.ports)).toEqual(['tcp/30402@127.0.0.96']);
        const t0 = Date.now();
        await expect(collectDevice({ ...input, credential: { username: TEST_USER, password: 'wrong' } })).rejects.toThrow(`the device refused the credentials of user "${TEST_USER}"`);
        // login(1) waits a few seconds after a failed login; the refusal is read then, not at the command timeout.
        expect(Date.now() - t0).toBeLessThan(input.commandTimeoutMs);
      } finally {
        listener.close();
      }
    }, 60_000);
  });

  describe('Windows over SMB (Samba smbd on 127.0.0.1:445, registry seeded from a .reg file)', () => {
    let samba: Awaited<ReturnType<typeof startSamba>>;
    beforeAll(async () => {
      samba = await startSamba({ port: 445, registry: WINDOWS_REGISTRY, password });
      started.push(samba);
    }, 60_000);

    it('reads inbound firewall rules, firewall profiles, RDP and service start types; a new rule is one new item', async () => {
      const input = base({ protocol: 'smb', profile: profileById('windows')!, port: samba.port, credential: { username: TEST_USER, password } });
      const first = await collectDevice(input);
      const items = first.host.items ?? [];
      expect(items.filter((i) => i.type === 'firewall-rule').map((i) => i.key).sort()).toEqual(['FPS-SMB-In-TCP', 'RemoteDesktop-UserMode-In-TCP', 'WINRM-HTTP-In-TCP']);
      expect(items.find((i) => i.key === 'RemoteDesktop-UserMode-In-TCP')?.attributes).toMatchObject({ action: 'allow', protocol: 'tcp', localPorts: '3389', profiles: 'domain,private', enabled: true });
      const registry = Object.fromEntries(items.filter((i) => i.type === 'registry-value').map((i) => [i.key.replace(/^HK[^\\]*\\SYSTEM\\CurrentControlSet\\/, ''), i.attributes['value']]));
      expect(registry).toMatchObject({ 'Control\\Terminal Server\\fDenyTSConnections': 0, 'Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber': 3389, 'Services\\WinRM\\Start': 4 });
      expect(first.coverage).toEqual({ ports: { tcp: [], udp: [] }, itemTypes: ['firewall-rule', 'registry-value'] });
      expect(first.args.join(' ')).not.toContain(password);

      samba.setValue(
        'HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules',
        'Portolan-Test-8443-In',
        'sz',
        'v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=8443|Name=Test 8443|',
      );
      const second = await collectDevice(input);
      const keys = (o: typeof first) => new Set((o.host.items ?? []).map((i) => `${i.type} ${i.key}`));
      expect([...keys(second)].filter((k) => !keys(first).has(k))).toEqual(['firewall-rule Portolan-Test-8443-In']);
      await expect(collectDevice({ ...input, credential: { username: TEST_USER, password: 'wrong' } })).rejects.toThrow(`the host refused the credentials of user "${TEST_USER}"`);
    }, 60_000);
  });
});
