/** Join lines the way Windows console programs end them. */
function crlf(lines: string[]): string {
  return lines.map((line) => `${line}\r\n`).join('');
}

/**
 * Output in the shape Windows Server 2019 (and Windows 10) prints for `netstat -ano`: a blank
 * line, the title, a blank line, the column header, then fixed-width columns (a long IPv6 address
 * pushes the rest of its line right). TCP shows listeners and connections with their state; UDP
 * has no state column. IPv6 addresses are bracketed, a link-local one with its interface index
 * (`%6`). PID 4 is the System process (SMB, WinRM through http.sys).
 */
export const NETSTAT_WINDOWS_SERVER = crlf([
  '',
  'Active Connections',
  '',
  '  Proto  Local Address          Foreign Address        State           PID',
  '  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       904',
  '  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4',
  '  TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       1012',
  '  TCP    0.0.0.0:5985           0.0.0.0:0              LISTENING       4',
  '  TCP    0.0.0.0:47001          0.0.0.0:0              LISTENING       4',
  '  TCP    0.0.0.0:49664          0.0.0.0:0              LISTENING       684',
  '  TCP    0.0.0.0:49665          0.0.0.0:0              LISTENING       536',
  '  TCP    10.0.0.15:139          0.0.0.0:0              LISTENING       4',
  '  TCP    10.0.0.15:3389         10.0.0.200:51544       ESTABLISHED     1012',
  '  TCP    10.0.0.15:49721        20.190.151.7:443       TIME_WAIT       0',
  '  TCP    127.0.0.1:8080         0.0.0.0:0              LISTENING       5128',
  '  TCP    127.0.0.1:8080         127.0.0.1:49733        ESTABLISHED     5128',
  '  TCP    [::]:135               [::]:0                 LISTENING       904',
  '  TCP    [::]:445               [::]:0                 LISTENING       4',
  '  TCP    [::]:3389              [::]:0                 LISTENING       1012',
  '  TCP    [::]:49664             [::]:0                 LISTENING       684',
  '  TCP    [::1]:8080             [::]:0                 LISTENING       5128',
  '  UDP    0.0.0.0:123            *:*                                    1356',
  '  UDP    0.0.0.0:500            *:*                                    3120',
  '  UDP    0.0.0.0:3389           *:*                                    1012',
  '  UDP    0.0.0.0:5353           *:*                                    1420',
  '  UDP    10.0.0.15:137          *:*                                    4',
  '  UDP    10.0.0.15:138          *:*                                    4',
  '  UDP    127.0.0.1:55921        *:*                                    2844',
  '  UDP    [::]:123               *:*                                    1356',
  '  UDP    [::]:500               *:*                                    3120',
  '  UDP    [::1]:1900             *:*                                    3624',
  '  UDP    [fe80::8d4c:2b1a:94e3:1f07%6]:1900  *:*                                    3624',
]);

/** Only the preamble: no socket listed. */
export const NETSTAT_WINDOWS_EMPTY = crlf(['', 'Active Connections', '', '  Proto  Local Address          Foreign Address        State           PID']);

/**
 * `netstat -ano` on a German Windows Server: title, header and TCP states translated
 * (`ABHÖREN` listening, `HERGESTELLT` established, `WARTEND` time-wait), `PID` and the protocols
 * not. Written in the OEM code page (850), whose `Ö` (0x99) reaches the agent as U+FFFD when read
 * as UTF-8; the parser must not depend on the state word.
 */
export const NETSTAT_WINDOWS_GERMAN = crlf([
  '',
  'Aktive Verbindungen',
  '',
  '  Proto  Lokale Adresse         Remoteadresse          Status           PID',
  '  TCP    0.0.0.0:135            0.0.0.0:0              ABH\uFFFDREN          904',
  '  TCP    0.0.0.0:445            0.0.0.0:0              ABH\uFFFDREN          4',
  '  TCP    0.0.0.0:3389           0.0.0.0:0              ABH\uFFFDREN          1012',
  '  TCP    10.0.0.15:3389         10.0.0.200:51544       HERGESTELLT      1012',
  '  TCP    10.0.0.15:49721        20.190.151.7:443       WARTEND          0',
  '  TCP    127.0.0.1:8080         0.0.0.0:0              ABH\uFFFDREN          5128',
  '  TCP    127.0.0.1:8080         127.0.0.1:49733        HERGESTELLT      5128',
  '  TCP    [::]:445               [::]:0                 ABH\uFFFDREN          4',
  '  UDP    0.0.0.0:123            *:*                                    1356',
  '  UDP    [::]:123               *:*                                    1356',
]);

/**
 * `tasklist /FO CSV /NH` on the server of NETSTAT_WINDOWS_SERVER: image name, PID, session name,
 * session number, memory. PID 4 is System (SMB, http.sys); several services share svchost.exe.
 */
export const TASKLIST_WINDOWS_SERVER = crlf([
  '',
  '"System Idle Process","0","Services","0","8 K"',
  '"System","4","Services","0","2,304 K"',
  '"smss.exe","328","Services","0","1,224 K"',
  '"wininit.exe","536","Services","0","6,868 K"',
  '"svchost.exe","904","Services","0","24,120 K"',
  '"svchost.exe","1012","Services","0","13,980 K"',
  '"svchost.exe","1356","Services","0","9,336 K"',
  '"svchost.exe","1420","Services","0","7,212 K"',
  '"svchost.exe","2844","Services","0","11,044 K"',
  '"svchost.exe","3120","Services","0","8,600 K"',
  '"svchost.exe","3624","Services","0","6,148 K"',
  '"Acme Web Console.exe","5128","RDP-Tcp#2","2","88,412 K"',
]);
