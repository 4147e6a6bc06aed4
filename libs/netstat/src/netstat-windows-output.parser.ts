import type { ListeningSocket, SocketProtocol } from './listening-socket.model';
import { uniqueSortedSockets } from './listening-socket.model';
import { parseSocketAddress } from './socket-address';
import type { OutputLine } from './tool-output.helpers';
import { invalidLine, outputLines, parsePid, valueOrThrow } from './tool-output.helpers';

const TOOL = 'netstat (Windows)';
const PROTOCOLS: Readonly<Record<string, SocketProtocol>> = { TCP: 'tcp', UDP: 'udp' };
/**
 * The lines before the sockets. Only the English wording is accepted: on a localised Windows the
 * state column is translated too (`ABHÖREN`), and refusing the output loudly beats skipping every
 * TCP listener as "another state".
 */
const HEADERS = [/^Active Connections$/, /^Proto\s+Local Address\s+Foreign Address\s+State\s+PID$/];
const STATE = /^[A-Z][A-Z0-9_]*$/;
const FOREIGN = /^(\*:\*|.+:[0-9]+)$/;

/** One socket line; null for a TCP connection (ESTABLISHED, TIME_WAIT, ...). */
function parseSocketLine(line: OutputLine): ListeningSocket | null {
  const columns = line.text.trim().split(/\s+/);
  const protocol = PROTOCOLS[columns[0]];
  if (protocol === undefined) throw invalidLine(TOOL, line, `unknown protocol "${columns[0]}" (expected TCP or UDP)`);
  // TCP: Proto Local Foreign State PID. UDP has no state: Proto Local Foreign PID.
  const expected = protocol === 'tcp' ? 5 : 4;
  if (columns.length !== expected) {
    const shape = protocol === 'tcp' ? 'Proto, Local Address, Foreign Address, State and PID' : 'Proto, Local Address, Foreign Address and PID';
    throw invalidLine(TOOL, line, `expected ${expected} columns (${shape}), found ${columns.length}`);
  }
  const [, local, foreign] = columns;
  const pid = valueOrThrow(parsePid(columns[columns.length - 1]), TOOL, line);
  if (protocol === 'tcp') {
    const state = columns[3];
    if (!STATE.test(state)) throw invalidLine(TOOL, line, `state "${state}" is not a TCP state`);
    if (state !== 'LISTENING') return null;
  }
  const { address, port } = valueOrThrow(parseSocketAddress(local, '0.0.0.0'), TOOL, line);
  if (!FOREIGN.test(foreign)) throw invalidLine(TOOL, line, `foreign address "${foreign}" is not an address:port`);
  return { protocol, bindAddress: address, port, pid };
}

/**
 * Sockets out of Windows `netstat -ano`: "Active Connections", the column header, then one socket
 * a line (CRLF). TCP counts in state LISTENING; every UDP socket counts (UDP has no state). The
 * PID is the last column; Windows shows no process name without -b. Throws
 * DomainError('invalid_output') naming the line for anything that is not netstat output.
 */
export function parseWindowsNetstatOutput(output: string): ListeningSocket[] {
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
