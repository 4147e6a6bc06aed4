import { readFile } from 'node:fs/promises';
import { type as osType, version as osVersion } from 'node:os';

/** Where os-release(5) says to look: the first that exists is the one used. */
const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'];
const MAX_DESCRIPTION = 256;
const ASSIGNMENT = /^([A-Z][A-Z0-9_]*)=(.*)$/;

/**
 * The value of a variable of an os-release file (`PRETTY_NAME="Ubuntu 22.04.4 LTS"`): shell-style,
 * unquoted or in single or double quotes, backslash escaping `"`, `\`, `$` and `` ` `` inside
 * double quotes. Undefined when the file does not set it, or sets it to something that is not such
 * a value (the description then falls back to the kernel's).
 */
export function osReleaseValue(text: string, name: string): string | undefined {
  let value: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const match = ASSIGNMENT.exec(line.trim());
    if (match?.[1] === name) value = unquote(match[2]);
  }
  return value?.trim() || undefined;
}

function unquote(raw: string): string | undefined {
  const double = /^"((?:[^"\\]|\\.)*)"$/.exec(raw);
  if (double) return double[1].replace(/\\(["\\$`])/g, '$1');
  const single = /^'([^']*)'$/.exec(raw);
  if (single) return single[1];
  return /^[^\s"'`$\\]*$/.test(raw) ? raw : undefined;
}

/**
 * What the agent tells the hub of its operating system, which registration rules match by regex:
 * on Linux the distribution's name from os-release (`Debian GNU/Linux 12 (bookworm)`), which the
 * kernel's version string often leaves out (RHEL's says only `#1 SMP PREEMPT_DYNAMIC ...`), then
 * the kernel's; elsewhere the system's own (`Windows_NT Windows Server 2019 Datacenter`).
 */
export async function describeOs(platform: NodeJS.Platform = process.platform, read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8')): Promise<string> {
  const kernel = `${osType()} ${osVersion()}`;
  if (platform !== 'linux') return kernel.slice(0, MAX_DESCRIPTION);
  for (const path of OS_RELEASE_FILES) {
    // A file that is not there: the next. One that is there but cannot be read: the kernel's description.
    const text = await read(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : null));
    if (text === undefined) continue;
    if (text === null) break;
    const name = osReleaseValue(text, 'PRETTY_NAME') ?? osReleaseValue(text, 'NAME');
    return (name ? `${name}; ${kernel}` : kernel).slice(0, MAX_DESCRIPTION);
  }
  return kernel.slice(0, MAX_DESCRIPTION);
}
