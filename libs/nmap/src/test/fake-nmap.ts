/**
 * Writes a stand-in "nmap" executable (a node script) that plays back a canned run, so the
 * process handling of the engine can be tested without a network. One that ignores SIGTERM is a
 * shell script that ignores it from its first line and runs the node script as its child: node
 * itself starts too slowly on a loaded machine to have its handler in place before a short
 * timeout's SIGTERM, which would then kill it (seen in CI: stopped after 240 ms, not 500).
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
  const wrapped = behaviour.ignoreTerm === true;
  const script = `#!${process.execPath}
const b = ${JSON.stringify({ ...settings, hang: settings.hang && !wrapped })};
const fs = require('fs');
if (process.argv[2] === '--version') { process.stdout.write(b.versionText); process.exit(0); }
${wrapped ? '' : 'fs.writeFileSync(b.pidFile, String(process.pid));'}
fs.writeFileSync(b.argsFile, JSON.stringify(process.argv.slice(2)));
if (b.stderr) process.stderr.write(b.stderr);
if (b.stdout) process.stdout.write(b.stdout);
if (b.hang) setInterval(() => {}, 1000); else process.exitCode = b.exitCode;
`;
  if (wrapped) {
    // Only SIGKILL stops it; the engine signals this shell by its pid. Its sleeps keep no pipe of the engine's open.
    const playback = join(dir, 'playback.js');
    writeFileSync(playback, script);
    writeFileSync(
      path,
      `#!/bin/sh
trap '' TERM
[ "$1" = --version ] && exec '${process.execPath}' '${playback}' --version
echo $$ > '${pidFile}'
'${process.execPath}' '${playback}' "$@"
code=$?
${settings.hang ? 'while :; do sleep 1 </dev/null >/dev/null 2>&1; done' : 'exit $code'}
`,
    );
  } else writeFileSync(path, script);
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
