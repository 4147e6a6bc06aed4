/**
 * Writes a stand-in "nmap" executable (a node script) that plays back a canned run, so the
 * process handling of the engine can be tested without a network.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeNmapBehaviour {
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  /** Keep running after writing output. */
  hang?: boolean;
  /** Ignore SIGTERM, so only SIGKILL stops it. */
  ignoreTerm?: boolean;
  /** What `--version` prints. */
  versionText?: string;
}

export interface FakeNmap {
  path: string;
  /** argv the last run received (after the binary). */
  lastArgs(): string[];
  /** pid of the last run. */
  lastPid(): number;
  remove(): void;
}

export function createFakeNmap(behaviour: FakeNmapBehaviour, name = 'nmap'): FakeNmap {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-fake-nmap-'));
  const path = join(dir, name);
  const argsFile = join(dir, 'args.json');
  const pidFile = join(dir, 'pid');
  const settings = { versionText: 'Nmap version 7.93 ( https://nmap.org )\n', exitCode: 0, ...behaviour, argsFile, pidFile };
  const script = `#!${process.execPath}
const b = ${JSON.stringify(settings)};
const fs = require('fs');
if (process.argv[2] === '--version') { process.stdout.write(b.versionText); process.exit(0); }
fs.writeFileSync(b.pidFile, String(process.pid));
fs.writeFileSync(b.argsFile, JSON.stringify(process.argv.slice(2)));
if (b.ignoreTerm) process.on('SIGTERM', () => {});
if (b.stderr) process.stderr.write(b.stderr);
if (b.stdout) process.stdout.write(b.stdout);
if (b.hang) setInterval(() => {}, 1000); else process.exitCode = b.exitCode;
`;
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  return {
    path,
    lastArgs: () => JSON.parse(readFileSync(argsFile, 'utf8')) as string[],
    lastPid: () => Number(readFileSync(pidFile, 'utf8')),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
