import { AttributeValue, Item, registerItemType } from './item';
import { HostLike, portItemsFromHosts } from './port-item';

/** A line of a device's configuration, keyed by its section and its text: a changed line is one removed and one added. */
export const CONFIG_LINE_ITEM_TYPE = 'config-line';
/** A Windows Firewall rule, keyed by its registry value name; its parsed fields are compared. */
export const FIREWALL_RULE_ITEM_TYPE = 'firewall-rule';
/** A registry value, keyed by its full path and name; its type and data are compared. */
export const REGISTRY_VALUE_ITEM_TYPE = 'registry-value';

registerItemType({ type: CONFIG_LINE_ITEM_TYPE, compared: [] });
registerItemType({ type: FIREWALL_RULE_ITEM_TYPE, compared: ['action', 'direction', 'protocol', 'localPorts', 'remotePorts', 'profiles', 'enabled', 'application', 'service'] });
registerItemType({ type: REGISTRY_VALUE_ITEM_TYPE, compared: ['valueType', 'value'] });

export interface ItemLike {
  readonly type: string;
  readonly key: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

export interface CollectedHostLike extends HostLike {
  readonly items?: readonly ItemLike[];
}

/** Everything observed on the hosts that were up: their open ports and the other items read from them. */
export function itemsFromHosts(hosts: readonly CollectedHostLike[]): Item[] {
  const items = portItemsFromHosts(hosts);
  for (const host of hosts) {
    if (host.state !== 'up' || !host.items) continue;
    for (const item of host.items) items.push({ type: item.type, host: host.address, key: item.key, attributes: item.attributes });
  }
  return items;
}
