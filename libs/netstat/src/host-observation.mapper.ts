import type { HostObservation, PortSet } from '@portolan/contracts';
import { portSetContains } from '@portolan/targets';
import type { ListeningSocket } from './listening-socket.model';
import { uniqueSortedSockets } from './listening-socket.model';

type PortObservation = HostObservation['ports'][number];

function toPortObservation(socket: ListeningSocket): PortObservation {
  const port: PortObservation = { protocol: socket.protocol, port: socket.port, state: 'open', bindAddress: socket.bindAddress };
  if (socket.process !== undefined) port.process = socket.process;
  if (socket.pid !== undefined) port.pid = socket.pid;
  return port;
}

/**
 * A self-scan as the tracker records a scan: the host is up, and each socket whose protocol and
 * port lie in the tracker's port set is an open port carrying its bind address (and process and
 * pid where known). Sockets outside the set are left out, as a network scan would not see them.
 */
export function toHostObservation(host: string, sockets: readonly ListeningSocket[], ports: PortSet): HostObservation {
  const kept = uniqueSortedSockets(sockets).filter((socket) => portSetContains(ports, socket.protocol, socket.port));
  return { address: host, hostnames: [], state: 'up', ports: kept.map(toPortObservation) };
}
