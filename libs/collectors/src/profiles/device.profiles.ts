import type { CollectProtocol } from '@portolan/contracts';
import type { DeviceSocket } from '../parsers/device-output';
import { parseAsaSocketTable, parseIosOpenPorts, parseJunosConnections } from '../parsers/open-ports.parsers';

/** How a profile's open-port listing is read. */
export type PortListing =
  | { readonly kind: 'host-sockets'; readonly commands: readonly { readonly command: string; readonly tool: 'ss' | 'netstat' }[] }
  | { readonly kind: 'device-sockets'; readonly command: string; readonly parse: (output: string) => DeviceSocket[] };

/** How a profile's configuration is read and cut into lines. */
export interface ConfigListing {
  readonly command: string;
  readonly format: 'indented' | 'junos-set';
  /** Lines that change by themselves (timestamps, counters, clock drift): never items. */
  readonly volatile: readonly RegExp[];
  readonly commentPrefixes: readonly string[];
}

/**
 * A device profile for SSH and Telnet, as data: how to talk to the device (a command per exec
 * channel for hosts, one interactive shell for network devices), the commands that turn paging
 * off, whether it has an enable mode, and the commands that list its open ports and its
 * configuration with the parser of each.
 */
export interface CliProfile {
  readonly id: string;
  readonly title: string;
  readonly protocols: readonly CollectProtocol[];
  readonly session: 'exec' | 'shell';
  readonly pagingOff: readonly string[];
  readonly enable: boolean;
  readonly ports: PortListing;
  readonly config?: ConfigListing;
}

/** The Windows profile (SMB remote registry): the keys it reads. */
export interface RegistryProfile {
  readonly id: 'windows';
  readonly title: string;
  readonly protocols: readonly ['smb'];
  readonly firewallPolicyKey: string;
  readonly terminalServerKey: string;
  readonly servicesKey: string;
  readonly services: readonly string[];
}

export type DeviceProfile = CliProfile | RegistryProfile;

const IOS_VOLATILE = [/^! Last configuration change at /, /^! NVRAM config last updated at /, /^! No configuration change since last restart/, /^ntp clock-period /];

export const PROFILES: readonly DeviceProfile[] = [
  {
    id: 'linux',
    title: 'Linux host (ss, else netstat)',
    protocols: ['ssh', 'telnet'],
    session: 'exec',
    pagingOff: [],
    enable: false,
    ports: {
      kind: 'host-sockets',
      commands: [
        { command: 'ss -tulpnH', tool: 'ss' },
        { command: 'netstat -tulpnW', tool: 'netstat' },
      ],
    },
  },
  {
    id: 'cisco-ios',
    title: 'Cisco IOS / IOS-XE',
    protocols: ['ssh', 'telnet'],
    session: 'shell',
    pagingOff: ['terminal length 0', 'terminal width 0'],
    enable: true,
    ports: { kind: 'device-sockets', command: 'show control-plane host open-ports', parse: parseIosOpenPorts },
    config: { command: 'show running-config', format: 'indented', volatile: IOS_VOLATILE, commentPrefixes: ['!'] },
  },
  {
    id: 'cisco-asa',
    title: 'Cisco ASA',
    protocols: ['ssh', 'telnet'],
    session: 'shell',
    pagingOff: ['terminal pager 0'],
    enable: true,
    ports: { kind: 'device-sockets', command: 'show asp table socket', parse: parseAsaSocketTable },
    config: {
      command: 'show running-config',
      format: 'indented',
      volatile: [/^: Saved/, /^: Written by /, /^: Serial Number:/, /^: Hardware:/, /^Cryptochecksum:/, /^ntp clock-period /],
      commentPrefixes: [':', '!'],
    },
  },
  {
    id: 'junos',
    title: 'Juniper Junos',
    protocols: ['ssh', 'telnet'],
    session: 'shell',
    pagingOff: ['set cli screen-length 0', 'set cli screen-width 0'],
    enable: false,
    ports: { kind: 'device-sockets', command: 'show system connections', parse: parseJunosConnections },
    config: { command: 'show configuration | display set', format: 'junos-set', volatile: [/^set version /], commentPrefixes: ['#'] },
  },
  {
    id: 'windows',
    title: 'Windows host (SMB remote registry)',
    protocols: ['smb'],
    firewallPolicyKey: 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy',
    terminalServerKey: 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server',
    servicesKey: 'HKLM\\SYSTEM\\CurrentControlSet\\Services',
    services: ['TermService', 'RemoteRegistry', 'WinRM', 'SNMP', 'W3SVC', 'LanmanServer', 'sshd', 'TlntSvr', 'FTPSVC', 'MSSQLSERVER'],
  },
];

export function profileById(id: string): DeviceProfile | undefined {
  return PROFILES.find((p) => p.id === id);
}

export function isCliProfile(profile: DeviceProfile): profile is CliProfile {
  return profile.id !== 'windows';
}

/** The port a protocol listens on unless the tracker says otherwise. */
export const DEFAULT_PORTS: Record<CollectProtocol, number> = { ssh: 22, telnet: 23, smb: 445 };

/** The credential types each protocol logs in with. */
export const CREDENTIAL_TYPES: Record<CollectProtocol, readonly ('ssh-password' | 'ssh-key' | 'telnet' | 'smb')[]> = { ssh: ['ssh-password', 'ssh-key'], telnet: ['telnet'], smb: ['smb'] };
