import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

// Small file-system primitives for the spool: durable replace, directory fsync.

export const TMP_SUFFIX = '.tmp';

/** tmp, fsync, rename, fsync the directory: readers see the old file or the whole new one. */
export async function writeDurably(dir: string, name: string, data: Buffer): Promise<void> {
  const target = join(dir, name);
  const tmp = target + TMP_SUFFIX;
  try {
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
  } catch (error) {
    await unlinkIfExists(tmp).catch(() => undefined);
    throw error;
  }
  await fsyncDirectory(dir);
}

export async function fsyncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // a directory cannot be opened for fsync there
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function unlinkIfExists(path: string): Promise<void> {
  await unlink(path).catch(ignoreEnoent);
}

export function ignoreEnoent(error: unknown): undefined {
  if (errorCode(error) === 'ENOENT') return undefined;
  throw error;
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}
