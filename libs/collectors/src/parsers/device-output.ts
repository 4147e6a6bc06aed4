import { DomainError } from '@portolan/contracts/errors';

/** A listening socket read from a network device (its own open ports, as it reports them). */
export interface DeviceSocket {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  /** The local address it listens on, `*` for any. */
  readonly bindAddress: string;
  /** The device's own name for the service (`SSH-Server`, `IP SNMP`), where it shows one. */
  readonly service?: string;
}

const MAX_QUOTED = 120;

export interface NumberedLine {
  readonly number: number;
  readonly text: string;
}

/** Lines of device output, numbered from 1, without the `\r` that terminals add. */
export function deviceLines(output: string): NumberedLine[] {
  return output.split(/\r?\n|\r/).map((text, i) => ({ number: i + 1, text }));
}

/** DomainError('invalid_output') naming the command, the line number and the line. */
export function badLine(command: string, line: NumberedLine, reason: string): DomainError {
  const shown = line.text.length > MAX_QUOTED ? `${line.text.slice(0, MAX_QUOTED)}…` : line.text;
  return new DomainError('invalid_output', `"${command}" output line ${line.number}: ${reason}: ${JSON.stringify(shown)}`, { command, line: line.number });
}

/** A port number 1-65535 from text, or undefined. */
export function portOf(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** The same sockets once each, in a stable order. */
export function uniqueSockets(sockets: readonly DeviceSocket[]): DeviceSocket[] {
  const seen = new Map<string, DeviceSocket>();
  for (const s of sockets) {
    const id = `${s.protocol}/${s.port}@${s.bindAddress}`;
    if (!seen.has(id)) seen.set(id, s);
  }
  return [...seen.values()].sort((a, b) => (a.protocol !== b.protocol ? (a.protocol < b.protocol ? -1 : 1) : a.port - b.port || (a.bindAddress < b.bindAddress ? -1 : a.bindAddress > b.bindAddress ? 1 : 0)));
}
