import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real servers for the collector tests, started by the tests on loopback and stopped after:
 * OpenSSH sshd, inetutils telnetd under inetutils-inetd, Samba smbd. They log in a local user
 * (`portolan-test`) whose password each run sets anew; all of it needs root (CI runs as root),
 * and a missing program is an error that says which Debian package has it.
 */

export const TEST_USER = 'portolan-test';

/** Creates the local test user if missing and gives it a new random password; returns it. */
export function prepareTestUser(): string {
  if (process.getuid?.() !== 0) throw new Error(`the collector tests start sshd, telnetd and smbd and log in as ${TEST_USER}: run them as root (as .ci/run does)`);
  try {
    execFileSync('id', [TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--home-dir', '/nonexistent', '--shell', '/bin/sh', TEST_USER]);
  }
  const password = `Pt-${randomBytes(12).toString('base64url')}`;
  execFileSync('chpasswd', [], { input: `${TEST_USER}:${password}\n` });
  return password;
}

function need(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Debian package ${pkg} (.ci/run does)`);
  return path;
}

export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface RealServer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  stop(): Promise<void>;
}

/**
 * Servers run in a process group of their own (`detached`): daemons signal their group when
 * they stop (inetd, smbd and their children), and that must never reach the test runner.
 * Stopping signals the whole group.
 */
function spawnServer(command: string, args: string[], stdio: 'ignore' | 'stderr'): ChildProcess {
  return spawn(command, args, { detached: true, stdio: stdio === 'stderr' ? ['ignore', 'ignore', 'pipe'] : 'ignore' });
}

function stopChild(child: ChildProcess): Promise<void> {
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // the group is gone
    }
  };
  if (child.exitCode !== null || child.signalCode !== null) {
    group('SIGKILL');
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => group('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      group('SIGKILL');
      resolve();
    });
    group('SIGTERM');
  });
}

/**
 * OpenSSH sshd in the foreground on host:port with its own host key and config: password and
 * public-key logins for the test user only (its authorized keys in the test's directory).
 */
export async function startSshd(options: { host?: string; port?: number; authorizedKeys?: string; hostKeyType?: 'ed25519' | 'ecdsa' } = {}): Promise<RealServer & { hostKeyFile: string; regenerateHostKey(): void; restart(): Promise<void> }> {
  const sshd = need('/usr/sbin/sshd', 'openssh-server');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 2222;
  const dir = mkdtempSync(join(tmpdir(), 'portolan-sshd-'));
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeyFile = join(dir, 'host_key');
  const keyType = options.hostKeyType ?? 'ed25519';
  const regenerateHostKey = () => {
    rmSync(hostKeyFile, { force: true });
    rmSync(`${hostKeyFile}.pub`, { force: true });
    execFileSync('ssh-keygen', ['-q', '-t', keyType, '-N', '', '-f', hostKeyFile]);
  };
  regenerateHostKey();
  const keysDir = join(dir, 'authorized');
  mkdirSync(keysDir, { mode: 0o755 });
  writeFileSync(join(keysDir, TEST_USER), options.authorizedKeys ?? '', { mode: 0o644 });
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${host}`,
      `Port ${port}`,
      `HostKey ${hostKeyFile}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keysDir}/%u`,
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'UsePAM yes',
      'StrictModes no',
      `AllowUsers ${TEST_USER}`,
      'PermitRootLogin no',
      'MaxStartups 10:30:100',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  let child: ChildProcess;
  const start = async () => {
    child = spawnServer(sshd, ['-D', '-e', '-f', config], 'stderr');
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = `${stderr}${c.toString()}`.slice(-4000)));
    await waitForPort(host, port, 10_000).catch((error: Error) => {
      throw new Error(`${error.message}; sshd said: ${stderr}`);
    });
  };
  await start();
  return {
    host,
    port,
    dir,
    hostKeyFile,
    regenerateHostKey,
    restart: async () => {
      await stopChild(child);
      await start();
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** inetutils telnetd, started per connection by inetutils-inetd listening on host:port. */
export async function startTelnetd(options: { host?: string; port?: number } = {}): Promise<RealServer> {
  const inetd = need('/usr/sbin/inetutils-inetd', 'inetutils-inetd');
  const telnetd = need('/usr/sbin/telnetd', 'inetutils-telnetd');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 2323;
  const dir = mkdtempSync(join(tmpdir(), 'portolan-telnetd-'));
  const config = join(dir, 'inetd.conf');
  // -h: no host banner before the login prompt.
  writeFileSync(config, `${host}:${port} stream tcp nowait root ${telnetd} telnetd -h\n`);
  const child = spawnServer(inetd, ['-d', `--pidfile=${join(dir, 'inetd.pid')}`, config], 'ignore');
  await waitForPort(host, port, 10_000);
  return {
    host,
    port,
    dir,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Samba smbd as a standalone server on host:port (everything under a temporary directory), with
 * the registry seeded from a `.reg` text and the test user's Samba password set. The winreg pipe
 * is served through samba-dcerpcd, which smbd starts on demand and which outlives it: stopped by
 * its pid too.
 */
export async function startSamba(options: { host?: string; port?: number; registry: string; password: string }): Promise<RealServer & { setValue(key: string, name: string, type: 'sz' | 'dword', value: string): void }> {
  const smbd = need('/usr/sbin/smbd', 'samba');
  need('/usr/bin/net', 'samba-common-bin');
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 445;
  const dir = mkdtempSync(join(tmpdir(), 'portolan-smbd-'));
  // The winreg server opens the registry as the logged-in user: the state must be reachable by it.
  chmodSync(dir, 0o755);
  for (const sub of ['lock', 'state', 'cache', 'private', 'pid', 'log', 'ncalrpc']) mkdirSync(join(dir, sub));
  const config = join(dir, 'smb.conf');
  writeFileSync(
    config,
    [
      '[global]',
      '  server role = standalone server',
      `  interfaces = ${host}`,
      '  bind interfaces only = yes',
      `  smb ports = ${port}`,
      '  disable netbios = yes',
      '  server min protocol = SMB2_02',
      '  server signing = mandatory',
      ...['lock', 'state', 'cache', 'pid', 'ncalrpc'].map((d) => `  ${d === 'pid' ? 'pid directory' : d === 'ncalrpc' ? 'ncalrpc dir' : `${d} directory`} = ${join(dir, d)}`),
      `  private dir = ${join(dir, 'private')}`,
      `  log file = ${join(dir, 'log', '%m.log')}`,
      `  passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}`,
      '',
    ].join('\n'),
  );
  execFileSync('smbpasswd', ['-c', config, '-a', '-s', TEST_USER], { input: `${options.password}\n${options.password}\n` });
  const importRegistry = (text: string) => {
    const file = join(dir, 'seed.reg');
    writeFileSync(file, text);
    execFileSync('net', ['-s', config, 'registry', 'import', file], { stdio: 'pipe' });
  };
  importRegistry(options.registry);
  // A change while smbd runs: written straight into the registry database, seen over RPC at once.
  const setValue = (key: string, name: string, type: 'sz' | 'dword', value: string) => execFileSync('net', ['-s', config, 'registry', 'setvalue', key, name, type, value], { stdio: 'pipe' });
  const child = spawnServer(smbd, ['-F', '--no-process-group', '-s', config], 'ignore');
  await waitForPort(host, port, 15_000);
  return {
    host,
    port,
    dir,
    setValue,
    stop: async () => {
      await stopChild(child);
      const pidFile = join(dir, 'pid', 'samba-dcerpcd.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        try {
          if (pid > 0) process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
