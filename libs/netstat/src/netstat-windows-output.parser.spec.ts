import type { ListeningSocket } from './listening-socket.model';
import { parseWindowsNetstatOutput } from './netstat-windows-output.parser';
import { thrownBy } from './test/domain-error.expect';
import { NETSTAT_WINDOWS_EMPTY, NETSTAT_WINDOWS_SERVER } from './test/netstat-windows.samples';

function brief(sockets: ListeningSocket[]): string[] {
  return sockets.map((s) => `${s.protocol} ${s.bindAddress}:${s.port} ${s.process ?? '-'}/${s.pid ?? '-'}`);
}

const PREAMBLE = '\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n';

describe('parseWindowsNetstatOutput', () => {
  it('reads TCP listeners and every UDP socket of a Windows Server 2019 listing, with pids only', () => {
    expect(brief(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER))).toEqual([
      'tcp 0.0.0.0:135 -/904',
      'tcp :::135 -/904',
      'tcp 10.0.0.15:139 -/4',
      'tcp 0.0.0.0:445 -/4',
      'tcp :::445 -/4',
      'tcp 0.0.0.0:3389 -/1012',
      'tcp :::3389 -/1012',
      'tcp 0.0.0.0:5985 -/4',
      'tcp 127.0.0.1:8080 -/5128',
      'tcp ::1:8080 -/5128',
      'tcp 0.0.0.0:47001 -/4',
      'tcp 0.0.0.0:49664 -/684',
      'tcp :::49664 -/684',
      'tcp 0.0.0.0:49665 -/536',
      'udp 0.0.0.0:123 -/1356',
      'udp :::123 -/1356',
      'udp 10.0.0.15:137 -/4',
      'udp 10.0.0.15:138 -/4',
      'udp 0.0.0.0:500 -/3120',
      'udp :::500 -/3120',
      'udp ::1:1900 -/3624',
      'udp fe80::8d4c:2b1a:94e3:1f07:1900 -/3624',
      'udp 0.0.0.0:3389 -/1012',
      'udp 0.0.0.0:5353 -/1420',
      'udp 127.0.0.1:55921 -/2844',
    ]);
  });

  it('gives no process name, only the pid', () => {
    const [rpc] = parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER);
    expect(rpc).toEqual({ protocol: 'tcp', bindAddress: '0.0.0.0', port: 135, pid: 904 });
  });

  it('returns no sockets for the preamble alone or empty output', () => {
    expect(parseWindowsNetstatOutput(NETSTAT_WINDOWS_EMPTY)).toEqual([]);
    expect(parseWindowsNetstatOutput('\r\n')).toEqual([]);
  });

  it('accepts LF line ends (output passed through a Unix tool)', () => {
    expect(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER.replace(/\r\n/g, '\n'))).toEqual(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER));
  });

  it('skips TCP lines in other states, whatever their foreign address', () => {
    const output = `${PREAMBLE}  TCP    10.0.0.15:49721        20.190.151.7:443       CLOSE_WAIT      7788\r\n  TCP    0.0.0.0:49666          0.0.0.0:0              BOUND           2210\r\n`;
    expect(parseWindowsNetstatOutput(output)).toEqual([]);
  });

  it.each([
    ['a localised listing', '\r\nAktive Verbindungen\r\n\r\n  Proto  Lokale Adresse         Remoteadresse          Status          PID\r\n', 2, 'unknown protocol "Aktive"'],
    ['an HTML page', '<!DOCTYPE html>\r\n<html lang="en">', 1, 'unknown protocol "<!DOCTYPE"'],
    ['a shell error', "'netstat' is not recognized as an internal or external command,\r\n", 1, `unknown protocol "'netstat'"`],
    ['a UDP line with a state', `${PREAMBLE}  UDP    0.0.0.0:123            *:*                    LISTENING       1356\r\n`, 5, 'expected 4 columns'],
    ['a TCP line without PID', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING\r\n`, 5, 'expected 5 columns'],
    ['a non-numeric PID', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       svchost\r\n`, 5, 'pid "svchost" is not a process id'],
    ['a service name for the port', `${PREAMBLE}  TCP    0.0.0.0:epmap          0.0.0.0:0              LISTENING       904\r\n`, 5, 'port "epmap" is not a decimal number'],
    ['port 0 on a UDP socket', `${PREAMBLE}  UDP    0.0.0.0:0              *:*                                    1356\r\n`, 5, 'port 0 is out of range'],
    ['an unknown protocol', `${PREAMBLE}  TCPv6  [::]:135               [::]:0                 LISTENING       904\r\n`, 5, 'unknown protocol "TCPv6"'],
  ])('rejects %s, naming the line', (_what, output, lineNumber, reason) => {
    const error = thrownBy(() => parseWindowsNetstatOutput(output));
    const line = output.split('\r\n')[lineNumber - 1];
    expect(error.code).toBe('invalid_output');
    expect(error.message).toContain(`netstat (Windows) output line ${lineNumber}: `);
    expect(error.message).toContain(reason);
    expect(error.message).toContain(JSON.stringify(line));
  });
});
