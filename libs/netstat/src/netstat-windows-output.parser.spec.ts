import fc from 'fast-check';
import type { ListeningSocket } from './listening-socket.model';
import { parseWindowsNetstatOutput } from './netstat-windows-output.parser';
import { thrownBy } from './test/domain-error.expect';
import { NETSTAT_WINDOWS_EMPTY, NETSTAT_WINDOWS_GERMAN, NETSTAT_WINDOWS_SERVER } from './test/netstat-windows.samples';

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

  it('returns no sockets for the preamble alone', () => {
    expect(parseWindowsNetstatOutput(NETSTAT_WINDOWS_EMPTY)).toEqual([]);
  });

  it('reads a German listing: the listeners are the TCP sockets without a peer, whatever the state word', () => {
    expect(brief(parseWindowsNetstatOutput(NETSTAT_WINDOWS_GERMAN))).toEqual([
      'tcp 0.0.0.0:135 -/904',
      'tcp 0.0.0.0:445 -/4',
      'tcp :::445 -/4',
      'tcp 0.0.0.0:3389 -/1012',
      'tcp 127.0.0.1:8080 -/5128',
      'udp 0.0.0.0:123 -/1356',
      'udp :::123 -/1356',
    ]);
  });

  it('reads the same sockets from a listing and its translation', () => {
    const translated = NETSTAT_WINDOWS_SERVER.replace('Active Connections', 'Connexions actives')
      .replace(/Proto\s+Local Address\s+Foreign Address\s+State\s+PID/, 'Proto  Adresse locale           Adresse distante       \u00c9tat            PID')
      .replace(/LISTENING/g, '\u00c9COUTE  ')
      .replace(/ESTABLISHED/g, '\u00c9TABLIE    ')
      .replace(/TIME_WAIT/g, 'ATTENTE  ');
    expect(translated).not.toContain('LISTENING');
    expect(parseWindowsNetstatOutput(translated)).toEqual(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER));
  });

  it('accepts a translated state of several words', () => {
    const output = '\r\nConnessioni attive\r\n\r\n  Proto  Indirizzo locale       Indirizzo esterno      Stato           PID\r\n  TCP    0.0.0.0:135            0.0.0.0:0              IN ASCOLTO      904\r\n';
    expect(brief(parseWindowsNetstatOutput(output))).toEqual(['tcp 0.0.0.0:135 -/904']);
  });

  it('accepts LF line ends (output passed through a Unix tool)', () => {
    expect(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER.replace(/\r\n/g, '\n'))).toEqual(parseWindowsNetstatOutput(NETSTAT_WINDOWS_SERVER));
  });

  it('skips TCP lines in other states, whatever their foreign address', () => {
    const output = `${PREAMBLE}  TCP    10.0.0.15:49721        20.190.151.7:443       CLOSE_WAIT      7788\r\n  TCP    0.0.0.0:49666          0.0.0.0:0              BOUND           2210\r\n`;
    expect(parseWindowsNetstatOutput(output)).toEqual([]);
  });

  it.each([
    ['an HTML page', '<!DOCTYPE html>\r\n<html lang="en">\r\n<head>', 3, 'no column header (Proto ... PID) in the first lines'],
    ['a title without a header', '<!DOCTYPE html>\r\n<html lang="en">', 2, 'not netstat output: "<html" where the column header (Proto ... PID) should be'],
    ['a shell error', "'netstat' is not recognized as an internal or external command,\r\n", 1, `not netstat output: "'netstat'"`],
    ['empty output', '\r\n', 1, 'no output'],
    ['sockets without the header', '  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       904\r\n', 1, 'a socket before the column header'],
    ['a line that is not a socket after the header', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       904\r\nThe requested operation requires elevation.\r\n`, 6, 'unknown protocol "The"'],
    [
      'listeners in two translated states',
      `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              ABH\u00d6REN          904\r\n  TCP    0.0.0.0:49666          0.0.0.0:0              GEBUNDEN         2210\r\n`,
      6,
      'listening sockets printed in two states, "ABH\u00d6REN" (line 5) and "GEBUNDEN"',
    ],
    ['LISTENING beside a translated listener', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       904\r\n  TCP    0.0.0.0:445            0.0.0.0:0              ABH\u00d6REN          4\r\n`, 6, 'two states'],
    ['a UDP line with a state', `${PREAMBLE}  UDP    0.0.0.0:123            *:*                    LISTENING       1356\r\n`, 5, 'expected 4 columns'],
    ['a TCP line without PID', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING\r\n`, 5, 'expected 5 columns'],
    ['a foreign address without a port', `${PREAMBLE}  TCP    0.0.0.0:135            0.0.0.0                LISTENING       904\r\n`, 5, 'foreign address "0.0.0.0" is not an address:port'],
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

describe('parseWindowsNetstatOutput, in any language (property)', () => {
  const notTranslated = new Set(['TCP', 'UDP', 'CLOSED', 'LISTENING', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT', 'DELETE_TCB', 'BOUND']);
  /** A word of a translated listing: letters of any script, or U+FFFD where the OEM code page was read as UTF-8. */
  const word = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜÉÈ_\uFFFD聴取待機'), minLength: 2, maxLength: 12 }).filter((w) => !notTranslated.has(w));
  const line = fc.record({
    kind: fc.constantFrom('listener', 'connection', 'udp'),
    v6: fc.boolean(),
    address: fc.ipV4(),
    port: fc.integer({ min: 1, max: 65535 }),
    peerPort: fc.integer({ min: 1, max: 65535 }),
    pid: fc.integer({ min: 0, max: 99_999 }),
    connectionState: fc.constantFrom('ESTABLISHED', 'TIME_WAIT', 'CLOSE_WAIT', 'SYN_SENT'),
  });

  it('finds the same listeners in a listing and in any translation of it', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), word, fc.array(word, { minLength: 4, maxLength: 4 }), fc.dictionary(fc.constantFrom('ESTABLISHED', 'TIME_WAIT', 'CLOSE_WAIT', 'SYN_SENT'), word), (lines, listening, headerWords, states) => {
        const render = (translate: boolean) => {
          const body = lines.map((l) => {
            const local = l.v6 ? `[::ffff:${l.address}]:${l.port}` : `${l.address}:${l.port}`;
            if (l.kind === 'udp') return `  UDP    ${local}  *:*  ${l.pid}`;
            const noPeer = l.v6 ? '[::]:0' : '0.0.0.0:0';
            if (l.kind === 'listener') return `  TCP    ${local}  ${noPeer}  ${translate ? listening : 'LISTENING'}  ${l.pid}`;
            const state = translate ? (states[l.connectionState] ?? l.connectionState) : l.connectionState;
            return `  TCP    ${local}  10.9.8.7:${l.peerPort}  ${state}  ${l.pid}`;
          });
          const header = translate ? ['', headerWords[0], '', `  Proto  ${headerWords.slice(1).join('  ')}  PID`] : ['', 'Active Connections', '', '  Proto  Local Address  Foreign Address  State  PID'];
          return [...header, ...body].join('\r\n');
        };
        const english = parseWindowsNetstatOutput(render(false));
        expect(parseWindowsNetstatOutput(render(true))).toEqual(english);
        const expected = new Set(lines.filter((l) => l.kind !== 'connection').map((l) => `${l.kind === 'udp' ? 'udp' : 'tcp'}/${l.port}@${l.address}`));
        expect(new Set(english.map((s) => `${s.protocol}/${s.port}@${s.bindAddress}`))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
