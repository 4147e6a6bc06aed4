import type { ListeningSocket, SocketProtocol } from './listening-socket.model';
import { uniqueSortedSockets } from './listening-socket.model';
import { parseSocketAddress } from './socket-address';
import type { OutputLine } from './tool-output.helpers';
import { checkCount, invalidLine, outputLines, parsePid, splitColumns, valueOrThrow } from './tool-output.helpers';

const TOOL = 'ss';
const STATE = /^[A-Z][A-Z0-9-]*$/;
const PEER = /:(\*|[0-9]+)$/;
/** TCP listeners, and UDP sockets that are bound but not connected (ESTAB means connected). */
const LISTENING_STATE: Record<SocketProtocol, string> = { tcp: 'LISTEN', udp: 'UNCONN' };
/** One `("name",pid=N,fd=N)` entry; the name may hold anything, so match up to `",pid=`. */
const USERS_ENTRY = /\("(.*?)",pid=([0-9]+),fd=[0-9]+[^)]*\)/g;

interface Owner {
  process?: string;
  pid?: number;
}

/**
 * `users:(("nginx",pid=1290,fd=6),("nginx",pid=1288,fd=6))`: the entry with the lowest pid.
 * ss lists the sharing processes newest first, so the lowest pid is the parent (the master),
 * which stays the same when workers are restarted.
 */
function parseOwner(text: string, line: OutputLine): Owner {
  if (text === '') return {};
  if (!text.startsWith('users:((')) throw invalidLine(TOOL, line, 'the process column does not start with "users:(("');
  let owner: { process: string; pid: number } | undefined;
  for (const match of text.matchAll(USERS_ENTRY)) {
    const pid = valueOrThrow(parsePid(match[2]), TOOL, line);
    if (owner === undefined || pid < owner.pid) owner = { process: match[1], pid };
  }
  if (owner === undefined) throw invalidLine(TOOL, line, 'the process column has no ("name",pid=N,fd=N) entry');
  return owner.process === '' ? { pid: owner.pid } : owner;
}

function parseProtocol(netid: string, line: OutputLine): SocketProtocol {
  if (netid === 'tcp' || netid === 'udp') return netid;
  throw invalidLine(TOOL, line, `unknown protocol "${netid}" (expected tcp or udp)`);
}

/** One socket line; null for a socket in another state (a connected UDP socket, say). */
function parseSocketLine(line: OutputLine): ListeningSocket | null {
  const protocol = parseProtocol(line.text.trim().split(/\s+/)[0], line);
  const split = splitColumns(line.text, 6);
  if (split === null) {
    throw invalidLine(TOOL, line, 'truncated line: expected Netid, State, Recv-Q, Send-Q, Local and Peer columns');
  }
  const [, state, recvQ, sendQ, local, peer] = split.columns;
  if (!STATE.test(state)) throw invalidLine(TOOL, line, `state "${state}" is not a socket state`);
  valueOrThrow(checkCount(recvQ, 'Recv-Q'), TOOL, line);
  valueOrThrow(checkCount(sendQ, 'Send-Q'), TOOL, line);
  if (state !== LISTENING_STATE[protocol]) return null;
  // ss has no tcp6 netid: `*` is the dual-stack IPv6 wildcard, which also accepts IPv4.
  const { address, port } = valueOrThrow(parseSocketAddress(local, '0.0.0.0'), TOOL, line);
  if (!PEER.test(peer)) throw invalidLine(TOOL, line, `peer "${peer}" is not an address:port`);
  return { protocol, bindAddress: address, port, ...parseOwner(split.rest, line) };
}

/**
 * Sockets out of `ss -tulpnH` (iproute2): `Netid State Recv-Q Send-Q Local Peer [Process]`, one
 * socket a line. A header line (`Netid ...`, from ss without -H) is skipped when it comes first.
 * TCP sockets count in state LISTEN, UDP sockets in UNCONN; other states are skipped. Throws
 * DomainError('invalid_output') naming the line for anything that is not ss output.
 */
export function parseSsOutput(output: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  let first = true;
  for (const line of outputLines(output)) {
    if (line.text.trim() === '') continue;
    const isHeader = first && line.text.trimStart().startsWith('Netid');
    first = false;
    if (isHeader) continue;
    const socket = parseSocketLine(line);
    if (socket !== null) sockets.push(socket);
  }
  return uniqueSortedSockets(sockets);
}
