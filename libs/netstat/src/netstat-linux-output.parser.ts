import type { ListeningSocket, SocketProtocol } from './listening-socket.model';
import { uniqueSortedSockets } from './listening-socket.model';
import type { WildcardAddress } from './socket-address';
import { parseSocketAddress } from './socket-address';
import type { OutputLine } from './tool-output.helpers';
import { checkCount, invalidLine, outputLines, parsePid, splitColumns, valueOrThrow } from './tool-output.helpers';

const TOOL = 'netstat (net-tools)';
const PROTOCOLS: Readonly<Record<string, { protocol: SocketProtocol; wildcard: WildcardAddress }>> = {
  tcp: { protocol: 'tcp', wildcard: '0.0.0.0' },
  tcp6: { protocol: 'tcp', wildcard: '::' },
  udp: { protocol: 'udp', wildcard: '0.0.0.0' },
  udp6: { protocol: 'udp', wildcard: '::' },
};
/** The two lines netstat prints before the sockets (LC_ALL=C; the runner sets it). */
const HEADERS = [/^Active Internet connections\b/, /^Proto\s+Recv-Q\s+Send-Q\b/];
const STATE = /^[A-Z][A-Z0-9_]*$/;
const FOREIGN = /:(\*|[0-9]+)$/;
const PROGRAM = /^([0-9]+)\/(.*)$/;

/**
 * `812/sshd`, `-` (not visible), or a title a daemon wrote over its argv (`1288/nginx: master`,
 * `2210/redis-server 1`, cut to 19 characters by netstat): the first word, without a colon.
 */
function parseProgram(text: string, line: OutputLine): { process?: string; pid?: number } {
  if (text === '' || text === '-') return {};
  const match = PROGRAM.exec(text);
  if (match === null) throw invalidLine(TOOL, line, `PID/Program name "${text}" is not "pid/name" or "-"`);
  const pid = valueOrThrow(parsePid(match[1]), TOOL, line);
  const process = match[2].trim().split(/\s+/)[0].replace(/:$/, '');
  return process === '' ? { pid } : { process, pid };
}

/** One socket line; null for a socket that is not listening (a connected UDP socket, say). */
function parseSocketLine(line: OutputLine): ListeningSocket | null {
  const proto = line.text.trim().split(/\s+/)[0];
  const family = PROTOCOLS[proto];
  if (family === undefined) throw invalidLine(TOOL, line, `unknown protocol "${proto}" (expected tcp, tcp6, udp or udp6)`);
  const split = splitColumns(line.text, 5);
  if (split === null) {
    throw invalidLine(TOOL, line, 'truncated line: expected Proto, Recv-Q, Send-Q, Local Address and Foreign Address');
  }
  const [, recvQ, sendQ, local, foreign] = split.columns;
  valueOrThrow(checkCount(recvQ, 'Recv-Q'), TOOL, line);
  valueOrThrow(checkCount(sendQ, 'Send-Q'), TOOL, line);
  // UDP sockets have an empty State unless connected; the program column never starts upper-case.
  const stateMatch = /^(\S+)\s*(.*)$/.exec(split.rest);
  const hasState = stateMatch !== null && STATE.test(stateMatch[1]);
  const state = hasState ? stateMatch[1] : '';
  const program = hasState ? stateMatch[2] : split.rest;
  if (family.protocol === 'tcp' && state === '') throw invalidLine(TOOL, line, 'truncated line: a TCP socket without a State');
  if (state !== (family.protocol === 'tcp' ? 'LISTEN' : '')) return null;
  const { address, port } = valueOrThrow(parseSocketAddress(local, family.wildcard), TOOL, line);
  if (!FOREIGN.test(foreign)) throw invalidLine(TOOL, line, `foreign address "${foreign}" is not an address:port`);
  return { protocol: family.protocol, bindAddress: address, port, ...parseProgram(program, line) };
}

/**
 * Sockets out of `netstat -tulpnW` (net-tools): the two header lines, then `Proto Recv-Q Send-Q
 * Local Foreign [State] PID/Program` a line. IPv6 addresses are unbracketed (`:::22`, `::1:631`):
 * the last colon separates the port. TCP counts in state LISTEN, UDP when unconnected (no State).
 * Throws DomainError('invalid_output') naming the line for anything that is not netstat output.
 */
export function parseLinuxNetstatOutput(output: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  let inBody = false;
  for (const line of outputLines(output)) {
    const text = line.text.trim();
    if (text === '') continue;
    if (!inBody && HEADERS.some((header) => header.test(text))) continue;
    inBody = true;
    const socket = parseSocketLine(line);
    if (socket !== null) sockets.push(socket);
  }
  return uniqueSortedSockets(sockets);
}
