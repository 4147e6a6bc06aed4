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
