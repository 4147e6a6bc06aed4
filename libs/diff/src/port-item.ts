import { Item, registerItemType } from './item';

export const PORT_ITEM_TYPE = 'port';

// `process` is compared (a different program now owns the port); `pid` is not (it changes on
// every restart of the same service).
registerItemType({ type: PORT_ITEM_TYPE, compared: ['service', 'product', 'version', 'process'] });

/** Port states that make a port present in a baseline. Everything else is "not open". */
const PRESENT_STATES: ReadonlySet<string> = new Set(['open']);

export interface PortLike {
  readonly protocol: string;
  readonly port: number;
  readonly state: string;
  readonly service?: string;
  readonly product?: string;
  readonly version?: string;
  readonly process?: string;
  readonly bindAddress?: string;
  readonly pid?: number;
}

export interface HostLike {
  readonly address: string;
  readonly state: string;
  readonly ports: readonly PortLike[];
}

/**
 * `tcp/443` for a port seen from the network; `tcp/443@0.0.0.0` for a socket seen on the host
 * itself (self-scan), where the same port can be bound to several local addresses.
 */
export function portKey(protocol: string, port: number, bindAddress?: string): string {
  return bindAddress === undefined ? `${protocol}/${port}` : `${protocol}/${port}@${bindAddress}`;
}

export function parsePortKey(key: string): { protocol: string; port: number; bindAddress?: string } | undefined {
  const slash = key.indexOf('/');
  const at = key.indexOf('@', slash + 1);
  const port = Number(key.slice(slash + 1, at < 0 ? undefined : at));
  if (slash <= 0 || !Number.isInteger(port) || (at >= 0 && at === key.length - 1)) return undefined;
  const parsed = { protocol: key.slice(0, slash), port };
  return at < 0 ? parsed : { ...parsed, bindAddress: key.slice(at + 1) };
}

export function portItem(host: string, port: PortLike): Item {
  return {
    type: PORT_ITEM_TYPE,
    host,
    key: portKey(port.protocol, port.port, port.bindAddress),
    attributes: {
      protocol: port.protocol,
      port: port.port,
      state: port.state,
      service: port.service ?? null,
      product: port.product ?? null,
      version: port.version ?? null,
      ...(port.bindAddress === undefined ? {} : { bindAddress: port.bindAddress, process: port.process ?? null, pid: port.pid ?? null }),
    },
  };
}

/** Open ports of hosts that were up, as port items. Hosts not up contribute nothing. */
export function portItemsFromHosts(hosts: readonly HostLike[]): Item[] {
  const items: Item[] = [];
  for (const host of hosts) {
    if (host.state !== 'up') continue;
    for (const port of host.ports) {
      if (PRESENT_STATES.has(port.state)) items.push(portItem(host.address, port));
    }
  }
  return items;
}

/** The protocol and port of a port event (from its later state, else its earlier one); nulls for other items. */
export function eventPort(itemType: string | null, before: Readonly<Record<string, unknown>> | null, after: Readonly<Record<string, unknown>> | null): { protocol: string | null; port: number | null } {
  const attributes = after ?? before;
  if (itemType !== PORT_ITEM_TYPE || !attributes) return { protocol: null, port: null };
  return { protocol: String(attributes['protocol']), port: Number(attributes['port']) };
}
