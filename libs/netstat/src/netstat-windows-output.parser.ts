import type { ListeningSocket, SocketProtocol } from './listening-socket.model';
import { uniqueSortedSockets } from './listening-socket.model';
import { parseSocketAddress } from './socket-address';
import type { OutputLine } from './tool-output.helpers';
import { invalidLine, outputLines, parsePid, valueOrThrow } from './tool-output.helpers';

const TOOL = 'netstat (Windows)';
const PROTOCOLS: ReadonlyMap<string, SocketProtocol> = new Map([
  ['TCP', 'tcp'],
  ['UDP', 'udp'],
]);
/** Lines netstat prints before the sockets: a title (`Active Connections`) and the column header. */
const MAX_PREAMBLE_LINES = 2;
/**
 * The column header of `-ano`, in any language: it ends with the `-o` column, `PID`, which
 * Windows does not translate (`Proto  Lokale Adresse  Remoteadresse  Status  PID` in German).
 */
const COLUMN_HEADER = /^\S+(\s+\S+){3,}\s+PID$/;
/** TCP states as English Windows prints them; a state outside this list is a translated word. */
const ENGLISH_STATES = new Set(['CLOSED', 'LISTENING', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT', 'DELETE_TCB', 'BOUND']);
/** The foreign address of a listening TCP socket: no peer, port 0. */
const NO_PEER = new Set(['0.0.0.0:0', '[::]:0']);
const FOREIGN = /^(\*:\*|.+:[0-9]+)$/;

type SocketLine =
  | { kind: 'udp'; socket: ListeningSocket }
  /** A listening TCP socket, with the word its state is printed as (`LISTENING`, `ABHÖREN`). */
  | { kind: 'listener'; state: string; socket: ListeningSocket }
  /** A TCP socket in another state (ESTABLISHED, TIME_WAIT, `HERGESTELLT`, ...). */
  | { kind: 'connection' };

const firstColumn = (text: string) => text.trim().split(/\s+/)[0];

function parseSocketLine(line: OutputLine): SocketLine {
  const columns = line.text.trim().split(/\s+/);
  const protocol = PROTOCOLS.get(columns[0]);
  if (protocol === undefined) throw invalidLine(TOOL, line, `unknown protocol "${columns[0]}" (expected TCP or UDP)`);
  // TCP: Proto Local Foreign State PID (a translated state may hold spaces). UDP has no state: Proto Local Foreign PID.
  if (protocol === 'tcp' ? columns.length < 5 : columns.length !== 4) {
    const shape = protocol === 'tcp' ? '5 columns (Proto, Local Address, Foreign Address, State and PID)' : '4 columns (Proto, Local Address, Foreign Address and PID)';
    throw invalidLine(TOOL, line, `expected ${shape}, found ${columns.length}`);
  }
  const [, local, foreign] = columns;
  const pid = valueOrThrow(parsePid(columns[columns.length - 1]), TOOL, line);
  if (!FOREIGN.test(foreign)) throw invalidLine(TOOL, line, `foreign address "${foreign}" is not an address:port`);
  const state = columns.slice(3, -1).join(' ');
  if (protocol === 'tcp' && state !== 'LISTENING' && (ENGLISH_STATES.has(state) || !NO_PEER.has(foreign))) return { kind: 'connection' };
  const { address, port } = valueOrThrow(parseSocketAddress(local, '0.0.0.0'), TOOL, line);
  const socket: ListeningSocket = { protocol, bindAddress: address, port, pid };
  return protocol === 'udp' ? { kind: 'udp', socket } : { kind: 'listener', state, socket };
}

/**
 * The lines before the first socket: a title, then the column header, which must be there (it is
 * printed even when nothing listens). Anything else (an error message, an HTML page) is refused,
 * naming the line, rather than read as a host with nothing listening.
 */
function checkPreamble(preamble: readonly OutputLine[], firstSocket?: OutputLine): void {
  const header = preamble[preamble.length - 1];
  if (header === undefined && firstSocket) throw invalidLine(TOOL, firstSocket, 'a socket before the column header (Proto ... PID)');
  if (header === undefined) throw invalidLine(TOOL, { number: 1, text: '' }, 'no output (netstat -ano prints a column header, Proto ... PID, even with no sockets)');
  if (!COLUMN_HEADER.test(header.text.trim())) throw invalidLine(TOOL, header, `not netstat output: "${firstColumn(header.text)}" where the column header (Proto ... PID) should be`);
}

/**
 * Sockets out of Windows `netstat -ano`: a title, the column header, then one socket a line
 * (CRLF). Every UDP socket counts (UDP has no state); a TCP socket counts when it listens. The
 * PID is the last column; Windows shows no process name without -b (`tasklist` gives them).
 *
 * A localised Windows translates the title, the header and the TCP states (`ABHÖREN` for
 * LISTENING in German) and prints them in its OEM code page, so the state word cannot be matched.
 * There a TCP socket listens when it has no peer (foreign address `0.0.0.0:0` or `[::]:0`):
 * without `-q`, netstat lists no bound socket that does not listen. Listeners printed with two
 * different state words break that rule, and the listing is refused. Throws
 * DomainError('invalid_output') naming the line for anything that is not netstat output.
 */
export function parseWindowsNetstatOutput(output: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  const preamble: OutputLine[] = [];
  let inBody = false;
  let listening: { state: string; line: number } | undefined;
  for (const line of outputLines(output)) {
    const text = line.text.trim();
    if (text === '') continue;
    if (!inBody) {
      const headerSeen = preamble.length > 0 && COLUMN_HEADER.test(preamble[preamble.length - 1].text.trim());
      if (!PROTOCOLS.has(firstColumn(text)) && !headerSeen) {
        if (preamble.length === MAX_PREAMBLE_LINES) throw invalidLine(TOOL, line, 'not netstat output: no column header (Proto ... PID) in the first lines');
        preamble.push(line);
        continue;
      }
      checkPreamble(preamble, line);
      inBody = true;
    }
    const parsed = parseSocketLine(line);
    if (parsed.kind === 'connection') continue;
    if (parsed.kind === 'listener') {
      if (listening && listening.state !== parsed.state) {
        throw invalidLine(TOOL, line, `listening sockets printed in two states, "${listening.state}" (line ${listening.line}) and "${parsed.state}": cannot tell which one listens`);
      }
      listening ??= { state: parsed.state, line: line.number };
    }
    sockets.push(parsed.socket);
  }
  if (!inBody) checkPreamble(preamble);
  return uniqueSortedSockets(sockets);
}
