/**
 * Device outputs in the layouts the devices print them (written for these tests after the
 * vendors' documented formats; addresses are documentation and loopback ones). The emulators
 * answer with them, and the parser tests read them.
 */

export const IOS_OPEN_PORTS = `Active internet connections (servers and established)
Prot               Local Address             Foreign Address                  Service    State
 tcp                        *:22                         *:0               SSH-Server   LISTEN
 tcp                        *:23                         *:0                   Telnet   LISTEN
 tcp                        *:80                         *:0                HTTP CORE   LISTEN
 tcp                    *:22                 192.0.2.10:51514               SSH-Server  ESTABLIS
 udp                       *:123                         *:0                      NTP   LISTEN
 udp                       *:161                         *:0                  IP SNMP   LISTEN
 udp                       *:162                         *:0                  IP SNMP   LISTEN
`;

/** A running configuration; `{{extra}}` is replaced by lines a test adds between two polls. */
export const IOS_RUNNING_CONFIG = `Building configuration...

Current configuration : 1893 bytes
!
! Last configuration change at 10:41:07 UTC Tue Dec 1 2026 by admin
! NVRAM config last updated at 10:41:09 UTC Tue Dec 1 2026 by admin
!
version 17.6
service timestamps debug datetime msec
service timestamps log datetime msec
service password-encryption
!
hostname lab-rtr1
!
boot-start-marker
boot-end-marker
!
enable secret 9 $9$examplehashexamplehash
!
no aaa new-model
!
ip domain name lab.example
ip ssh version 2
!
interface GigabitEthernet0/0
 description uplink
 ip address 192.0.2.1 255.255.255.0
 negotiation auto
!
interface GigabitEthernet0/1
 description users
 ip address 198.51.100.1 255.255.255.0
 ip access-group USERS-IN in
!
ip access-list extended USERS-IN
 10 permit tcp 198.51.100.0 0.0.0.255 any eq 443
 20 permit udp 198.51.100.0 0.0.0.255 any eq 53
{{acl}} 90 deny ip any any log
!
{{global}}ntp clock-period 17179864
ntp server 192.0.2.123
!
line con 0
 logging synchronous
line vty 0 4
 login local
{{vty}} transport input ssh
!
end
`;

export const ASA_SOCKET_TABLE = `Protocol  Socket    State      Local Address                                Foreign Address
SSL       0000b8d8  LISTEN     192.0.2.2:443                                0.0.0.0:*
TCP       00012ab8  LISTEN     192.0.2.2:22                                 0.0.0.0:*
DTLS      00017a08  LISTEN     192.0.2.2:443                                0.0.0.0:*
TCP       0001c4e8  ESTAB      192.0.2.2:22                                 192.0.2.10:51514
UDP       00022b58  LISTEN     192.0.2.2:161                                0.0.0.0:*
`;

export const ASA_RUNNING_CONFIG = `: Saved

:
: Serial Number: 9A1234567
: Hardware:   ASA5506, 4096 MB RAM, CPU Atom C2000 series 1250 MHz, 1 CPU (4 cores)
:
ASA Version 9.16(4)
!
hostname lab-asa1
enable password ***** pbkdf2
names
!
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 192.0.2.2 255.255.255.0
!
access-list OUTSIDE-IN extended permit tcp any host 192.0.2.80 eq https
{{acl}}!
ssh 192.0.2.0 255.255.255.0 outside
http server enable
Cryptochecksum:0f2c1a4b5d6e7f8091a2b3c4d5e6f708
: end
`;

export const JUNOS_CONNECTIONS = `Active Internet connections (including servers)
Proto Recv-Q Send-Q  Local Address                                 Foreign Address                               (state)
tcp4       0      0  *.22                                          *.*                                           LISTEN
tcp6       0      0  *.22                                          *.*                                           LISTEN
tcp4       0      0  192.0.2.3.179                                 *.*                                           LISTEN
tcp4       0     36  192.0.2.3.22                                  192.0.2.10.52000                              ESTABLISHED
udp4       0      0  *.161                                         *.*
udp4       0      0  *.123                                         *.*
udp4       0      0  192.0.2.3.55001                               192.0.2.123.123
`;

export const JUNOS_SET_CONFIG = `## Last commit: 2026-12-01 10:41:07 UTC by admin
set version 22.4R1.10
set system host-name lab-mx1
set system services ssh root-login deny
set system services netconf ssh
{{set}}set system syslog file messages any notice
set interfaces ge-0/0/0 unit 0 family inet address 192.0.2.3/24
set firewall family inet filter PROTECT-RE term ssh from protocol tcp
set firewall family inet filter PROTECT-RE term ssh from destination-port ssh
set firewall family inet filter PROTECT-RE term ssh then accept
`;

/** What a Windows host's registry holds for the SMB profile, as a `.reg` file (`net registry import`). */
export const WINDOWS_REGISTRY = `Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\FirewallRules]
"RemoteDesktop-UserMode-In-TCP"="v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|Profile=Private|LPort=3389|App=%SystemRoot%\\\\system32\\\\svchost.exe|Svc=termservice|Name=@FirewallAPI.dll,-28775|"
"FPS-SMB-In-TCP"="v2.30|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Private|LPort=445|App=System|Name=File and Printer Sharing (SMB-In)|"
"WINRM-HTTP-In-TCP"="v2.30|Action=Allow|Active=FALSE|Dir=In|Protocol=6|LPort=5985|App=System|Name=Windows Remote Management (HTTP-In)|"
"CoreNet-DNS-Out-UDP"="v2.30|Action=Allow|Active=TRUE|Dir=Out|Protocol=17|RPort=53|App=%SystemRoot%\\\\system32\\\\svchost.exe|Svc=dnscache|Name=Core Networking - DNS (UDP-Out)|"

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\DomainProfile]
"EnableFirewall"=dword:00000001

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile]
"EnableFirewall"=dword:00000001

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\PublicProfile]
"EnableFirewall"=dword:00000001
"DefaultInboundAction"=dword:00000001

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server]
"fDenyTSConnections"=dword:00000000

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]
"PortNumber"=dword:00000d3d

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\TermService]
"Start"=dword:00000003
"DisplayName"="Remote Desktop Services"

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\RemoteRegistry]
"Start"=dword:00000002

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\WinRM]
"Start"=dword:00000004

[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer]
"Start"=dword:00000002
`;

/** Fills a sample's `{{name}}` places: with the given lines, or with nothing. */
export function fill(sample: string, lines: Record<string, string> = {}): string {
  return sample.replace(/\{\{(\w+)\}\}/g, (_, name: string) => lines[name] ?? '');
}
