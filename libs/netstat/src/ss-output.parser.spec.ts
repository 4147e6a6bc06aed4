import fc from 'fast-check';
import type { ListeningSocket } from './listening-socket.model';
import { parseSsOutput } from './ss-output.parser';
import { thrownBy } from './test/domain-error.expect';
import { ssCaseArbitrary } from './test/socket.arbitraries';
import { SS_DEBIAN_SERVER, SS_VARIANTS, SS_WITH_HEADER } from './test/ss.samples';

/** `tcp 0.0.0.0:22 sshd/812`: every field of a socket, one string, for readable expectations. */
function brief(sockets: ListeningSocket[]): string[] {
  return sockets.map((s) => `${s.protocol} ${s.bindAddress}:${s.port} ${s.process ?? '-'}/${s.pid ?? '-'}`);
}

describe('parseSsOutput', () => {
  it('reads a Debian 12 server, sorted by protocol, port and address', () => {
    expect(brief(parseSsOutput(SS_DEBIAN_SERVER))).toEqual([
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
      'tcp 127.0.0.1:8080 java/1530',
      'tcp 0.0.0.0:9100 prometheus-node/1402',
      'udp 127.0.0.53:53 systemd-resolve/402',
      'udp 127.0.0.54:53 systemd-resolve/402',
      'udp 0.0.0.0:68 dhclient/611',
      'udp 0.0.0.0:123 chronyd/655',
      'udp 127.0.0.1:323 chronyd/655',
      'udp ::1:323 chronyd/655',
      'udp fe80::5054:ff:fe12:3456:546 dhclient/688',
    ]);
  });

  it('names the parent of a socket several processes share (ss lists the newest pid first)', () => {
    const nginx = parseSsOutput(SS_DEBIAN_SERVER).filter((s) => s.port === 80);
    expect(nginx.map((s) => s.pid)).toEqual([1288, 1288]);
  });

  it('leaves process and pid out when ss cannot see the owner', () => {
    const [postgres] = parseSsOutput(SS_DEBIAN_SERVER).filter((s) => s.port === 5432);
    expect(postgres).toEqual({ protocol: 'tcp', bindAddress: '127.0.0.1', port: 5432 });
  });

  it('skips the header line of ss without -H', () => {
    expect(brief(parseSsOutput(SS_WITH_HEADER))).toEqual([
      'tcp 0.0.0.0:22 sshd/812',
      'tcp :::22 sshd/812',
      'udp 127.0.0.53:53 systemd-resolve/402',
      'udp 0.0.0.0:68 dhclient/611',
    ]);
  });

  it('reads other address forms: * wildcard, zone inside the brackets, mapped and upper-case IPv6', () => {
    expect(brief(parseSsOutput(SS_VARIANTS))).toEqual([
      'tcp 0.0.0.0:22 sshd/812',
      'tcp 127.0.0.1:8080 -/-',
      'tcp fe80::1:8443 -/-',
      'udp 0.0.0.0:68 dhclient/611',
      'udp fe80::1:546 dhclient/688',
    ]);
  });

  it('keeps TCP in LISTEN and UDP in UNCONN only, skipping connections silently', () => {
    const output = [
      'udp ESTAB  0 0 10.20.30.41:41187 10.20.30.1:53 users:(("dig",pid=2345,fd=6))',
      'tcp ESTAB  0 0 10.20.30.41:22 10.20.30.9:51544 users:(("sshd",pid=3001,fd=4))',
      'tcp TIME-WAIT 0 0 10.20.30.41:0 10.20.30.9:51545',
      'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=812,fd=3))',
      'udp UNCONN 0 0 0.0.0.0:68 0.0.0.0:* users:(("dhclient",pid=611,fd=7))',
    ].join('\n');
    expect(brief(parseSsOutput(output))).toEqual(['tcp 0.0.0.0:22 sshd/812', 'udp 0.0.0.0:68 dhclient/611']);
  });

  it('reports a socket once when lines repeat it, with the lowest pid', () => {
    const output = [
      'tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=1290,fd=6))',
      'tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=1289,fd=6))',
      'tcp LISTEN 0 511 *:80 *:*',
    ].join('\n');
    expect(brief(parseSsOutput(output))).toEqual(['tcp 0.0.0.0:80 nginx/1289']);
  });

  it('returns no sockets for empty output', () => {
    expect(parseSsOutput('')).toEqual([]);
    expect(parseSsOutput('\n  \n')).toEqual([]);
  });

  it('accepts CRLF line ends', () => {
    expect(parseSsOutput(SS_WITH_HEADER.replace(/\n/g, '\r\n'))).toEqual(parseSsOutput(SS_WITH_HEADER));
  });

  it.each([
    ['an HTML page', '<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>', 1, 'unknown protocol "<!DOCTYPE"'],
    ['a shell error', 'bash: ss: command not found\n', 1, 'unknown protocol "bash:"'],
    ['a service name for the port', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\ntcp LISTEN 0 128 0.0.0.0:ssh 0.0.0.0:*', 2, 'port "ssh" is not a decimal number'],
    ['port 0', 'udp UNCONN 0 0 0.0.0.0:0 0.0.0.0:*', 1, 'port 0 is out of range'],
    ['port 70000', 'tcp LISTEN 0 128 [::]:70000 [::]:*', 1, 'port 70000 is out of range'],
    ['a truncated line', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\ntcp LISTEN 0 128 0.0.0.0:80', 2, 'truncated line'],
    ['a raw socket', 'raw UNCONN 0 0 *:1 *:*', 1, 'unknown protocol "raw"'],
    ['a header not first', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\nNetid State Recv-Q Send-Q Local Peer', 2, 'unknown protocol "Netid"'],
    ['a lower-case state', 'tcp listen 0 128 0.0.0.0:22 0.0.0.0:*', 1, 'state "listen" is not a socket state'],
    ['a non-numeric queue', 'tcp LISTEN 0 x 0.0.0.0:22 0.0.0.0:*', 1, 'Send-Q "x" is not a number'],
    ['an odd process column', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* sshd', 1, 'does not start with "users:(("'],
    ['a process column without pid', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",fd=3))', 1, 'no ("name",pid=N,fd=N) entry'],
    ['a peer without port', 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0', 1, 'peer "0.0.0.0" is not an address:port'],
  ])('rejects %s, naming the line', (_what, output, lineNumber, reason) => {
    const error = thrownBy(() => parseSsOutput(output));
    const line = output.split('\n')[lineNumber - 1];
    expect(error.code).toBe('invalid_output');
    expect(error.message).toContain(`ss output line ${lineNumber}: `);
    expect(error.message).toContain(reason);
    expect(error.message).toContain(JSON.stringify(line));
    expect(error.details).toMatchObject({ tool: 'ss', line: lineNumber });
  });

  it('quotes at most ~120 characters of a long offending line', () => {
    const line = `tcp LISTEN 0 128 0.0.0.0:http ${'x'.repeat(500)}`;
    const error = thrownBy(() => parseSsOutput(line));
    expect(error.message).toContain(`"${line.slice(0, 120)}…"`);
    expect(error.message.length).toBeLessThan(250);
  });

  it('reads back any listening line ss can print (round trip)', () => {
    fc.assert(
      fc.property(ssCaseArbitrary, ({ line, socket }) => {
        expect(parseSsOutput(`${line}\n`)).toEqual([socket]);
      }),
      { numRuns: 500 },
    );
  });

  it('reads a whole listing of generated lines as the unique sorted sockets', () => {
    fc.assert(
      fc.property(fc.array(ssCaseArbitrary, { maxLength: 20 }), (cases) => {
        const sockets = parseSsOutput(cases.map((c) => c.line).join('\n'));
        const keys = sockets.map((s) => `${s.protocol}/${s.port}@${s.bindAddress}`);
        const expected = new Set(cases.map(({ socket: s }) => `${s.protocol}/${s.port}@${s.bindAddress}`));
        expect(new Set(keys)).toEqual(expected);
        expect(keys).toHaveLength(expected.size);
        // Sort keys that order like (protocol, port, address): `tcp 00022 0.0.0.0`.
        const order = sockets.map((s) => `${s.protocol} ${String(s.port).padStart(5, '0')} ${s.bindAddress}`);
        expect(order).toEqual([...order].sort());
      }),
    );
  });
});
