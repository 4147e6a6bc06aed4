/**
 * A tracked item: one thing on one host whose presence and attributes make up a baseline.
 * Ports are the first item type; registry values, firewall rules and configuration lines are
 * further types with their own identity and compared attributes. Nothing downstream (comparer,
 * events, API) switches on the type: it only uses `type`, `host`, `key` and `attributes`.
 */
export type AttributeValue = string | number | boolean | null;
export type Attributes = Readonly<Record<string, AttributeValue>>;

export interface Item {
  readonly type: string;
  readonly host: string;
  /** Stable identity of the item within its host and type, e.g. `tcp/443`. */
  readonly key: string;
  readonly attributes: Attributes;
}

export interface ItemTypeDefinition {
  readonly type: string;
  /** Attributes whose change makes a `modified` event; all others are informational. */
  readonly compared: readonly string[];
}

const registry = new Map<string, ItemTypeDefinition>();

export function registerItemType(definition: ItemTypeDefinition): void {
  registry.set(definition.type, definition);
}

/** Compared attributes of a type; an unregistered type compares every attribute. */
export function comparedAttributes(type: string): readonly string[] | undefined {
  return registry.get(type)?.compared;
}

export function itemId(item: Pick<Item, 'type' | 'host' | 'key'>): string {
  return `${item.type}\u0000${item.host}\u0000${item.key}`;
}
