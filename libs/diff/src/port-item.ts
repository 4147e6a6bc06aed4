import { Item, registerItemType } from './item';

export const PORT_ITEM_TYPE = 'port';

registerItemType({ type: PORT_ITEM_TYPE, compared: ['service', 'product', 'version'] });

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
}

export interface HostLike {
  readonly address: string;
  readonly state: string;
  readonly ports: readonly PortLike[];
}

export function portKey(protocol: string, port: number): string {
  return `${protocol}/${port}`;
}

export function parsePortKey(key: string): { protocol: string; port: number } | undefined {
  const slash = key.indexOf('/');
  const port = Number(key.slice(slash + 1));
  if (slash <= 0 || !Number.isInteger(port)) return undefined;
  return { protocol: key.slice(0, slash), port };
}

export function portItem(host: string, port: PortLike): Item {
  return {
    type: PORT_ITEM_TYPE,
    host,
    key: portKey(port.protocol, port.port),
    attributes: {
      protocol: port.protocol,
      port: port.port,
      state: port.state,
      service: port.service ?? null,
      product: port.product ?? null,
      version: port.version ?? null,
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
