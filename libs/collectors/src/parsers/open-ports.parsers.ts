import { badLine, DeviceSocket, deviceLines, portOf, uniqueSockets } from './device-output';

/**
 * Cisco IOS / IOS-XE `show control-plane host open-ports`: the sockets the device itself
 * listens on. Columns: Prot, Local Address (`*:22`, `10.0.0.1:443`), Foreign Address, Service
 * (may hold spaces), State. Only LISTEN rows are open ports; established sessions are not.
 */
export function parseIosOpenPorts(output: string): DeviceSocket[] {
  const command = 'show control-plane host open-ports';
  const sockets: DeviceSocket[] = [];
  let header = false;
  for (const line of deviceLines(output)) {
    const text = line.text.trim();
    if (!text || /^Active internet connections/i.test(text)) continue;
    if (/^Prot\s+Local Address/i.test(text)) {
      header = true;
      continue;
    }
    if (!header) throw badLine(command, line, 'expected the "Prot Local Address ..." header first');
    const columns = text.split(/\s+/);
    if (columns.length < 4) throw badLine(command, line, 'expected protocol, local address, foreign address, service and state');
    const [protocol, local] = columns;
    const state = columns[columns.length - 1];
    if (protocol !== 'tcp' && protocol !== 'udp') throw badLine(command, line, `unknown protocol "${protocol}"`);
    if (!/^LISTEN$/i.test(state)) continue;
    const at = local.lastIndexOf(':');
    const port = portOf(local.slice(at + 1));
    if (at < 0 || port === undefined) throw badLine(command, line, `local address "${local}" has no port`);
    const service = columns.slice(3, -1).join(' ');
    sockets.push({ protocol, port, bindAddress: local.slice(0, at) || '*', ...(service ? { service } : {}) });
  }
  if (!header) throw badLine(command, { number: 1, text: output.split('\n')[0] ?? '' }, 'no socket table in the output');
  return uniqueSockets(sockets);
}

/** Cisco ASA `show asp table socket`: SSL and TCP listeners are TCP ports, DTLS and UDP are UDP. */
export function parseAsaSocketTable(output: string): DeviceSocket[] {
  const command = 'show asp table socket';
  const sockets: DeviceSocket[] = [];
  let header = false;
  for (const line of deviceLines(output)) {
    const text = line.text.trim();
    if (!text) continue;
    if (/^Protocol\s+Socket\s+State/i.test(text)) {
      header = true;
      continue;
    }
    if (!header) throw badLine(command, line, 'expected the "Protocol Socket State ..." header first');
    const columns = text.split(/\s+/);
    if (columns.length < 5) throw badLine(command, line, 'expected protocol, socket, state, local and foreign address');
    const [kind, , state, local] = columns;
    const protocol = ({ SSL: 'tcp', TCP: 'tcp', DTLS: 'udp', UDP: 'udp' } as const)[kind.toUpperCase() as 'SSL'];
    if (!protocol) throw badLine(command, line, `unknown socket protocol "${kind}"`);
    if (!/^LISTEN$/i.test(state)) continue;
    const at = local.lastIndexOf(':');
    const port = portOf(local.slice(at + 1));
    if (at < 0 || port === undefined) throw badLine(command, line, `local address "${local}" has no port`);
    sockets.push({ protocol, port, bindAddress: local.slice(0, at), service: kind.toUpperCase() });
  }
  if (!header) throw badLine(command, { number: 1, text: output.split('\n')[0] ?? '' }, 'no socket table in the output');
  return uniqueSockets(sockets);
}

/**
 * Juniper Junos `show system connections`: BSD netstat layout, `addr.port` local addresses
 * (`*.22`, `10.0.0.1.179`, `::1.830`). TCP rows in LISTEN and UDP rows with a `*.*` peer are
 * the device's open ports.
 */
export function parseJunosConnections(output: string): DeviceSocket[] {
  const command = 'show system connections';
  const sockets: DeviceSocket[] = [];
  let header = false;
  for (const line of deviceLines(output)) {
    const text = line.text.trim();
    if (!text || /^Active Internet connections/i.test(text) || /^\{master/.test(text)) continue;
    if (/^Proto\s+Recv-Q\s+Send-Q/i.test(text)) {
      header = true;
      continue;
    }
    if (!header) throw badLine(command, line, 'expected the "Proto Recv-Q Send-Q ..." header first');
    const columns = text.split(/\s+/);
    if (columns.length < 5) throw badLine(command, line, 'expected protocol, queues, local and foreign address');
    const [proto, , , local, foreign, state] = columns;
    const protocol = proto.startsWith('tcp') ? 'tcp' : proto.startsWith('udp') ? 'udp' : undefined;
    if (!protocol) throw badLine(command, line, `unknown protocol "${proto}"`);
    const listening = protocol === 'tcp' ? /^LISTEN$/i.test(state ?? '') : foreign === '*.*';
    if (!listening) continue;
    const dot = local.lastIndexOf('.');
    const port = portOf(local.slice(dot + 1));
    if (dot < 0 || port === undefined) throw badLine(command, line, `local address "${local}" has no port`);
    sockets.push({ protocol, port, bindAddress: local.slice(0, dot) });
  }
  if (!header) throw badLine(command, { number: 1, text: output.split('\n')[0] ?? '' }, 'no socket table in the output');
  return uniqueSockets(sockets);
}
