import type { ListeningSocket } from './listening-socket.model';
import { parseLinuxNetstatOutput } from './netstat-linux-output.parser';
import { thrownBy } from './test/domain-error.expect';
import { NETSTAT_LINUX_EMPTY, NETSTAT_LINUX_SERVER } from './test/netstat-linux.samples';

function brief(sockets: ListeningSocket[]): string[] {
  return sockets.map((s) => `${s.protocol} ${s.bindAddress}:${s.port} ${s.process ?? '-'}/${s.pid ?? '-'}`);
}

const HEADER = 'Active Internet connections (only servers)\nProto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    \n';

describe('parseLinuxNetstatOutput', () => {
  it('reads a net-tools 2.10 listing, sorted by protocol, port and address', () => {
    expect(brief(parseLinuxNetstatOutput(NETSTAT_LINUX_SERVER))).toEqual([
      'tcp 0.0.0.0:22 sshd/812',
      'tcp :::22 sshd/812',
      'tcp 127.0.0.53:53 systemd-resolve/402',
      'tcp 127.0.0.54:53 systemd-resolve/402',
      'tcp 0.0.0.0:80 nginx/1288',
      'tcp :::80 nginx/1288',
      'tcp 0.0.0.0:443 nginx/1288',
      'tcp 127.0.0.1:631 cupsd/733',
      'tcp ::1:631 cupsd/733',
      'tcp 127.0.0.1:5432 -/-',
      'tcp :::9100 prometheus-nod/1402',
      'udp 127.0.0.53:53 systemd-resolve/402',
      'udp 127.0.0.54:53 systemd-resolve/402',
      'udp 0.0.0.0:68 dhclient/611',
      'udp 0.0.0.0:123 chronyd/655',
      'udp 127.0.0.1:323 chronyd/655',
      'udp ::1:323 chronyd/655',
      'udp fe80::5054:ff:fe12:3456:546 dhclient/688',
    ]);
  });

  it('takes the first word of a rewritten process title as the name', () => {
    const output = `${HEADER}tcp        0      0 0.0.0.0:6379            0.0.0.0:*               LISTEN      2210/redis-server 1 \n`;
    expect(parseLinuxNetstatOutput(output)).toEqual([{ protocol: 'tcp', bindAddress: '0.0.0.0', port: 6379, process: 'redis-server', pid: 2210 }]);
  });

  it('skips connected sockets (TCP not in LISTEN, UDP with a state) silently', () => {
    const output = [
      'tcp        0      0 10.20.30.41:22          10.20.30.9:51544        ESTABLISHED 3001/sshd: alice [p',
      'tcp        0      0 10.20.30.41:0           10.20.30.9:51545        TIME_WAIT   -',
      'udp        0      0 10.20.30.41:41187       10.20.30.1:53           ESTABLISHED 2345/dig',
      'udp6       0      0 :::5353                 :::*                                -',
    ].join('\n');
    expect(brief(parseLinuxNetstatOutput(HEADER + output))).toEqual(['udp :::5353 -/-']);
  });

  it('returns no sockets for the header alone or empty output, and accepts output without the header', () => {
    expect(parseLinuxNetstatOutput(NETSTAT_LINUX_EMPTY)).toEqual([]);
    expect(parseLinuxNetstatOutput('')).toEqual([]);
    const bare = 'tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812/sshd: /usr/sbin';
    expect(brief(parseLinuxNetstatOutput(bare))).toEqual(['tcp 0.0.0.0:22 sshd/812']);
  });

  it('reads an IPv4-mapped tcp6 address as IPv4', () => {
    const output = `${HEADER}tcp6       0      0 ::ffff:127.0.0.1:8080   :::*                    LISTEN      1530/java\n`;
    expect(brief(parseLinuxNetstatOutput(output))).toEqual(['tcp 127.0.0.1:8080 java/1530']);
  });

  it.each([
    ['an HTML page', '<html>\n<head><title>404 Not Found</title></head>', 1, 'unknown protocol "<html>"'],
    ['a shell error', 'sh: 1: netstat: not found', 1, 'unknown protocol "sh:"'],
    ['a UDP-Lite socket', 'udpl       0      0 0.0.0.0:5000            0.0.0.0:*                           -', 1, 'unknown protocol "udpl"'],
    ['a service name for the port', 'tcp        0      0 0.0.0.0:ssh             0.0.0.0:*               LISTEN      -', 1, 'port "ssh" is not a decimal number'],
    ['port 0', 'udp        0      0 0.0.0.0:0               0.0.0.0:*                           -', 1, 'port 0 is out of range'],
    ['port 65536', 'tcp6       0      0 :::65536                :::*                    LISTEN      -', 1, 'port 65536 is out of range'],
    ['a TCP line cut before the state', 'tcp        0      0 0.0.0.0:22              0.0.0.0:*', 1, 'a TCP socket without a State'],
    ['a line cut after the address', 'tcp        0      0 0.0.0.0:22', 1, 'truncated line'],
    ['a program column without pid', 'tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      sshd', 1, 'PID/Program name "sshd" is not "pid/name" or "-"'],
    ['a non-numeric queue', 'tcp        x      0 0.0.0.0:22              0.0.0.0:*               LISTEN      -', 1, 'Recv-Q "x" is not a number'],
  ])('rejects %s, naming the line', (_what, body, lineNumber, reason) => {
    const output = HEADER + body;
    const error = thrownBy(() => parseLinuxNetstatOutput(output));
    const line = body.split('\n')[lineNumber - 1];
    expect(error.code).toBe('invalid_output');
    expect(error.message).toContain(`netstat (net-tools) output line ${lineNumber + 2}: `);
    expect(error.message).toContain(reason);
    expect(error.message).toContain(JSON.stringify(line));
  });

  it('rejects a header that turns up after the sockets', () => {
    const output = `tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      -\n${HEADER}`;
    expect(thrownBy(() => parseLinuxNetstatOutput(output)).message).toContain('line 2: unknown protocol "Active"');
  });
});
