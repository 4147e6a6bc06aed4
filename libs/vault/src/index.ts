export { loadKeyRing } from './key-ring.loader';
export type { KeyRingSource, LoadedKeyRing } from './key-ring.loader';
export { masterKey, newMasterKey, SecretBox } from './secret.box';
export type { MasterKey } from './secret.box';
