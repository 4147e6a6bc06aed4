export { comparedAttributes, itemId, registerItemType } from './item';
export type { AttributeValue, Attributes, Item, ItemTypeDefinition } from './item';
export { diffItems } from './diff';
export type { DiffResult, Modification } from './diff';
export { PORT_ITEM_TYPE, parsePortKey, portItem, portItemsFromHosts, portKey } from './port-item';
export type { HostLike, PortLike } from './port-item';
