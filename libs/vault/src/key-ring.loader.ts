import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DomainError } from '@portolan/contracts/errors';
import { MasterKey, masterKey, newMasterKey } from './secret.box';

export interface KeyRingSource {
  /** Base64 keys separated by commas or whitespace, the active one first (PORTOLAN_MASTER_KEYS). */
  readonly keys?: string;
  /** A file of base64 keys, one per line, the active one first (PORTOLAN_MASTER_KEY_FILE). */
  readonly file?: string;
  /** Where a key is generated on first start when neither is given: `<dataDir>/master.key`. */
  readonly dataDir: string;
}

export interface LoadedKeyRing {
  readonly keys: MasterKey[];
  readonly source: 'environment' | 'file' | 'generated' | 'data-dir' | 'ephemeral';
  readonly file?: string;
}

/**
 * The hub's master keys. Given in the environment or a file (production: a secret store mounts
 * one); otherwise kept in the data directory, made on first start with mode 0600, so
 * `npm start` works with nothing set (the log says where the key is and that production should
 * supply its own). A key that is not 32 bytes of base64 is refused, naming its line.
 */
export function loadKeyRing(source: KeyRingSource): LoadedKeyRing {
  if (source.keys?.trim()) return { keys: parseKeys(source.keys, 'PORTOLAN_MASTER_KEYS'), source: 'environment' };
  if (source.file) {
    if (!existsSync(source.file)) throw new DomainError('invalid_config', `PORTOLAN_MASTER_KEY_FILE: ${source.file} does not exist`);
    return { keys: parseKeys(readFileSync(source.file, 'utf8'), source.file), source: 'file', file: source.file };
  }
  // An in-memory database (PGlite `memory://`, tests and demos) keeps nothing on disk, and
  // neither does its key: writing `memory:/master.key` would leave a key in the working tree.
  if (source.dataDir.startsWith('memory://')) return { keys: [masterKey(newMasterKey())], source: 'ephemeral' };
  const file = join(source.dataDir, 'master.key');
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { keys: parseKeys(readFileSync(file, 'utf8'), file), source: 'data-dir', file };
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${newMasterKey().toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { keys: parseKeys(readFileSync(file, 'utf8'), file), source: 'generated', file };
}

function parseKeys(text: string, where: string): MasterKey[] {
  const tokens = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join(' ')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (!tokens.length) throw new DomainError('invalid_config', `${where}: no master key`);
  const keys = tokens.map((token, i) => {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw new DomainError('invalid_config', `${where}: key ${i + 1} is not base64`);
    const bytes = Buffer.from(token, 'base64');
    if (bytes.length !== 32) throw new DomainError('invalid_config', `${where}: key ${i + 1} is ${bytes.length} bytes; a master key is 32 bytes (openssl rand -base64 32)`);
    return masterKey(bytes);
  });
  const ids = new Set(keys.map((k) => k.id));
  if (ids.size !== keys.length) throw new DomainError('invalid_config', `${where}: the same key is listed twice`);
  return keys;
}
