import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

export interface NmapBinary {
  /** Absolute path of the executable that answered `--version`. */
  path: string;
  /** e.g. '7.93' */
  version: string;
}

export interface DetectNmapOptions {
  /** Search path; defaults to process.env.PATH. Relative entries are ignored. */
  pathEnv?: string;
  /** How long `nmap --version` may take. */
  timeoutMs?: number;
}

/** The version out of `nmap --version` ("Nmap version 7.93 ( https://nmap.org )"). */
export function parseNmapVersion(output: string): string | null {
  return /^Nmap version (\S+)/m.exec(output)?.[1] ?? null;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function versionOf(path: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(path, ['--version'], { timeout: timeoutMs, windowsHide: true }, (error, stdout) => {
      resolve(error ? null : parseNmapVersion(String(stdout)));
    });
  });
}

/**
 * Finds nmap on the search path and asks it for its version. Returns the first executable that
 * answers like nmap, or null. Only absolute PATH entries are searched, so a relative entry (or
 * an empty one, meaning the working directory) can never substitute a binary.
 */
export async function detectNmap(options: DetectNmapOptions = {}): Promise<NmapBinary | null> {
  const searchPath = options.pathEnv ?? process.env['PATH'] ?? '';
  const timeoutMs = options.timeoutMs ?? 5000;
  const seen = new Set<string>();
  for (const dir of searchPath.split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, 'nmap');
    if (seen.has(candidate)) continue;
    seen.add(candidate);
    if (!(await isExecutableFile(candidate))) continue;
    const version = await versionOf(candidate, timeoutMs);
    if (version !== null) return { path: candidate, version };
  }
  return null;
}
