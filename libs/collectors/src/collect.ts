import type { CollectProtocol, HostObservation, ItemObservation, PortSet } from '@portolan/contracts';
import { DomainError } from '@portolan/contracts/errors';
import { CONFIG_LINE_ITEM_TYPE, FIREWALL_RULE_ITEM_TYPE, REGISTRY_VALUE_ITEM_TYPE } from '@portolan/diff';
import { ListeningSocket, parseLinuxNetstatOutput, parseSsOutput, toHostObservation } from '@portolan/netstat';
import { portSetContains } from '@portolan/targets';
import { configLineKey, ConfigLine, parseIndentedConfig, parseJunosSetConfig } from './parsers/config.parsers';
import { DeviceSocket } from './parsers/device-output';
import { parseFirewallRule } from './parsers/firewall-rule.parser';
import { RegistryValue } from './parsers/reg-file.parser';
import { CliProfile, DeviceProfile, isCliProfile, RegistryProfile } from './profiles/device.profiles';
import { CliSession } from './transports/cli.session';
import { HostKey, SshConnection } from './transports/ssh.transport';
import { SmbRegistryReader } from './transports/smb-registry.reader';
import { openTelnet } from './transports/telnet.transport';

export interface CollectCredential {
  readonly username: string | null;
  readonly domain?: string | null;
  readonly password?: string;
  readonly privateKey?: string;
  readonly passphrase?: string;
  readonly enableSecret?: string;
}

export interface CollectInput {
  readonly protocol: CollectProtocol;
  readonly profile: DeviceProfile;
  readonly host: string;
  readonly port: number;
  /** Port items are kept inside these ports. */
  readonly ports: PortSet;
  readonly credential: CollectCredential;
  /** The SSH host key pinned for the device, if any. */
  readonly pinnedHostKey?: HostKey;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** Largest output of one command. */
  readonly maxOutputBytes: number;
}

export interface CollectOutcome {
  readonly host: HostObservation;
  /** The ports looked at (none for a registry read) and the other item types read in full. */
  readonly coverage: { readonly ports: PortSet; readonly itemTypes: string[] };
  readonly engine: CollectProtocol;
  /** The device's SSH version string, or the protocol and profile. */
  readonly engineVersion: string;
  /** The commands run (never a secret). */
  readonly args: string[];
  readonly startedAt: Date;
  readonly finishedAt: Date;
  /** The host key the device presented (SSH): to pin on first contact. */
  readonly hostKey?: HostKey;
}

const NOT_FOUND = /command not found|not found|no such file|unknown command|% ?invalid input|syntax error, expecting|% ?unrecognized command/i;
const NO_PORTS: PortSet = { tcp: [], udp: [] };

/**
 * Reads one device agentlessly and turns what it read into items: listening sockets into port
 * items (inside the tracker's ports), configuration into `config-line` items, a Windows
 * registry into `firewall-rule` and `registry-value` items. Everything a device answers is
 * parsed strictly: output that does not read as the profile expects is an error naming the
 * command and the line, never an empty (and so "everything removed") observation.
 */
export async function collectDevice(input: CollectInput): Promise<CollectOutcome> {
  if (!(input.profile.protocols as readonly CollectProtocol[]).includes(input.protocol)) {
    throw new DomainError('invalid_config', `profile ${input.profile.id} is not read over ${input.protocol} (it is read over ${input.profile.protocols.join(', ')})`);
  }
  const username = input.credential.username;
  if (!username) throw new DomainError('invalid_config', `the credential has no username; ${input.protocol} needs one`);
  const startedAt = new Date();
  if (!isCliProfile(input.profile)) return readRegistry(input, input.profile, username, startedAt);
  if (input.protocol === 'ssh') return collectOverSsh(input, input.profile, username, startedAt);
  return collectOverTelnet(input, input.profile, username, startedAt);
}

async function collectOverSsh(input: CollectInput, profile: CliProfile, username: string, startedAt: Date): Promise<CollectOutcome> {
  const connection = await SshConnection.open({
    host: input.host,
    port: input.port,
    username,
    password: input.credential.password,
    privateKey: input.credential.privateKey,
    passphrase: input.credential.passphrase,
    pinnedHostKey: input.pinnedHostKey,
    connectTimeoutMs: input.connectTimeoutMs,
  });
  try {
    const run =
      profile.session === 'exec'
        ? execRunner(connection, input)
        : await shellRunner(new CliSession(await connection.shell()), profile, input);
    const result = await readCli(profile, input, run);
    return { ...result, engine: 'ssh', engineVersion: connection.serverVersion.slice(0, 128), startedAt, finishedAt: new Date(), hostKey: connection.hostKey };
  } finally {
    connection.close();
  }
}

async function collectOverTelnet(input: CollectInput, profile: CliProfile, username: string, startedAt: Date): Promise<CollectOutcome> {
  if (!input.credential.password) throw new DomainError('invalid_config', 'the credential has no password; Telnet needs one');
  const { session, close } = await openTelnet({ host: input.host, port: input.port, username, password: input.credential.password, connectTimeoutMs: input.connectTimeoutMs, loginTimeoutMs: input.connectTimeoutMs });
  try {
    const run = await shellRunner(session, profile, input, true);
    const result = await readCli(profile, input, run);
    return { ...result, engine: 'telnet', engineVersion: `telnet ${profile.id}`, startedAt, finishedAt: new Date() };
  } finally {
    await close();
  }
}

type Runner = (command: string) => Promise<{ output: string; failed: boolean }>;

function execRunner(connection: SshConnection, input: CollectInput): Runner {
  return async (command) => {
    const { stdout, stderr, code } = await connection.exec(command, input.commandTimeoutMs, input.maxOutputBytes);
    return { output: stdout, failed: code !== 0 || (stdout.trim() === '' && NOT_FOUND.test(stderr)) };
  };
}

/** An interactive session: the prompt, enable mode (with the enable secret), paging off; then one command at a time. */
async function shellRunner(session: CliSession, profile: CliProfile, input: CollectInput, loggedIn = false): Promise<Runner> {
  if (!loggedIn || !session.prompt) await session.waitForPrompt(input.connectTimeoutMs, 'waiting for the device prompt');
  if (profile.enable && session.prompt.endsWith('>')) {
    if (!input.credential.enableSecret) throw new DomainError('invalid_config', `the device is in user mode (${session.prompt}) and the credential has no enable secret; ${profile.title} needs privileged mode to show its configuration`);
    session.send('enable');
    await session.expect([/password\s*:\s*$/i], input.commandTimeoutMs, 'waiting for the enable password prompt');
    session.sendSecret(input.credential.enableSecret);
    await session.waitForPrompt(input.commandTimeoutMs, 'entering enable mode', [/% ?(access denied|bad secrets?|bad passwords?)/i, /password\s*:\s*$/i], () =>
      new DomainError('scan_failed', 'the device refused the enable secret', { reason: 'enable_failed' }),
    );
    if (!session.prompt.endsWith('#')) throw new DomainError('scan_failed', `enable did not reach privileged mode (prompt ${session.prompt})`, { reason: 'enable_failed' });
  }
  for (const command of profile.pagingOff) await session.run(command, input.commandTimeoutMs);
  return async (command) => {
    const output = await session.run(command, input.commandTimeoutMs);
    if (Buffer.byteLength(output) > input.maxOutputBytes) throw new DomainError('invalid_output', `"${command}" wrote more than ${input.maxOutputBytes} bytes; refused`, { reason: 'output_too_large' });
    const firstLines = output.split('\n').slice(0, 3).join('\n');
    return { output, failed: NOT_FOUND.test(firstLines) };
  };
}

async function readCli(profile: CliProfile, input: CollectInput, run: Runner): Promise<Pick<CollectOutcome, 'host' | 'coverage' | 'args'>> {
  const args: string[] = [];
  let ports: HostObservation['ports'];
  if (profile.ports.kind === 'host-sockets') {
    let sockets: ListeningSocket[] | undefined;
    const tried: string[] = [];
    for (const { command, tool } of profile.ports.commands) {
      const { output, failed } = await run(command);
      args.push(command);
      if (failed) {
        tried.push(`${command}: ${output.trim().split('\n')[0]?.slice(0, 120) || 'failed'}`);
        continue;
      }
      sockets = tool === 'ss' ? parseSsOutput(output) : parseLinuxNetstatOutput(output);
      break;
    }
    if (!sockets) throw new DomainError('engine_unavailable', `no tool lists the sockets on ${input.host}: ${tried.join('; ')}`, { reason: 'no_tool' });
    ports = toHostObservation(input.host, sockets, input.ports).ports;
  } else {
    const { output, failed } = await run(profile.ports.command);
    args.push(profile.ports.command);
    if (failed) throw new DomainError('invalid_output', `"${profile.ports.command}" is not understood by the device: ${output.split('\n')[0]?.slice(0, 160)}`, { reason: 'command_failed' });
    ports = deviceSocketsToPorts(profile.ports.parse(output), input.ports);
  }
  const items: ItemObservation[] = [];
  const itemTypes: string[] = [];
  if (profile.config) {
    const { output, failed } = await run(profile.config.command);
    args.push(profile.config.command);
    if (failed) throw new DomainError('invalid_output', `"${profile.config.command}" is not understood by the device: ${output.split('\n')[0]?.slice(0, 160)}`, { reason: 'command_failed' });
    const lines = profile.config.format === 'junos-set' ? parseJunosSetConfig(output, profile.config.volatile) : parseIndentedConfig(output, profile.config);
    if (!lines.length) throw new DomainError('invalid_output', `"${profile.config.command}" returned no configuration lines`, { reason: 'empty_config' });
    items.push(...lines.map(configLineItem));
    itemTypes.push(CONFIG_LINE_ITEM_TYPE);
  }
  return { host: { address: input.host, hostnames: [], state: 'up', ports, ...(items.length ? { items } : {}) }, coverage: { ports: input.ports, itemTypes }, args };
}

function deviceSocketsToPorts(sockets: readonly DeviceSocket[], ports: PortSet): HostObservation['ports'] {
  return sockets
    .filter((s) => portSetContains(ports, s.protocol, s.port))
    .map((s) => ({ protocol: s.protocol, port: s.port, state: 'open' as const, bindAddress: s.bindAddress, ...(s.service ? { service: s.service.slice(0, 128) } : {}) }));
}

function configLineItem(line: ConfigLine): ItemObservation {
  return { type: CONFIG_LINE_ITEM_TYPE, key: configLineKey(line).slice(0, 2048), attributes: { section: line.section.slice(0, 8192), line: line.line.slice(0, 8192) } };
}

/** Windows over SMB: inbound firewall rules, the firewall profiles, RDP and the start type of listed services. */
async function readRegistry(input: CollectInput, profile: RegistryProfile, username: string, startedAt: Date): Promise<CollectOutcome> {
  if (!input.credential.password) throw new DomainError('invalid_config', 'the credential has no password; SMB needs one');
  const reader = new SmbRegistryReader({ host: input.host, port: input.port, domain: input.credential.domain ?? undefined, username, password: input.credential.password, timeoutMs: input.commandTimeoutMs });
  const policy = (await reader.export(profile.firewallPolicyKey)) ?? [];
  const rulesKey = `${profile.firewallPolicyKey}\\FirewallRules`.toLowerCase();
  const items: ItemObservation[] = [];
  for (const value of policy) {
    if (value.key.toLowerCase() === rulesKey) {
      const rule = typeof value.value === 'string' ? parseFirewallRule(value.value) : undefined;
      if (rule && rule.direction === 'in') items.push({ type: FIREWALL_RULE_ITEM_TYPE, key: value.name.slice(0, 2048), attributes: { ...rule } });
    } else if (/\\(Domain|Standard|Public)Profile$/i.test(value.key) && /^(EnableFirewall|DefaultInboundAction|DoNotAllowExceptions)$/i.test(value.name)) {
      items.push(registryItem(value));
    }
  }
  const terminal = (await reader.export(profile.terminalServerKey)) ?? [];
  for (const value of terminal) {
    if ((/\\Terminal Server$/i.test(value.key) && value.name === 'fDenyTSConnections') || (/\\WinStations\\RDP-Tcp$/i.test(value.key) && value.name === 'PortNumber')) items.push(registryItem(value));
  }
  for (const service of profile.services) {
    const start = await reader.getValue(`${profile.servicesKey}\\${service}`, 'Start');
    if (start) items.push(registryItem(start, { meaning: START_TYPES[Number(start.value)] ?? 'unknown' }));
  }
  return {
    host: { address: input.host, hostnames: [], state: 'up', ports: [], items },
    coverage: { ports: NO_PORTS, itemTypes: [FIREWALL_RULE_ITEM_TYPE, REGISTRY_VALUE_ITEM_TYPE] },
    engine: 'smb',
    engineVersion: 'samba net rpc registry',
    args: ['net', ...reader.args, 'registry', 'export', profile.firewallPolicyKey, profile.terminalServerKey, ...profile.services.map((s) => `${profile.servicesKey}\\${s}\\Start`)],
    startedAt,
    finishedAt: new Date(),
  };
}

const START_TYPES: Record<number, string> = { 0: 'boot', 1: 'system', 2: 'automatic', 3: 'manual', 4: 'disabled' };

function registryItem(value: RegistryValue, extra: Record<string, string> = {}): ItemObservation {
  return { type: REGISTRY_VALUE_ITEM_TYPE, key: `${value.key}\\${value.name}`.slice(0, 2048), attributes: { valueType: value.type, value: typeof value.value === 'string' ? value.value.slice(0, 8192) : value.value, ...extra } };
}
