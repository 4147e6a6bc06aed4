import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..', '..');

/** The admin token of the operator API every hub and gateway under test accepts (`PORTOLAN_ADMIN_TOKEN`). */
export const TEST_ADMIN_TOKEN = 'ptop_tests-admin-token-0123456789abcdefghij';

/** A Portolan app started as its own process, the way `npm run start:<app>` starts it. */
export class ServiceProcess {
  private readonly output: string[] = [];
  private readonly child: ChildProcess;
  private exited = false;
  private code: number | null = null;

  constructor(
    readonly name: string,
    app: string,
    env: Record<string, string>,
    args: string[] = [],
  ) {
    this.child = spawn(process.execPath, ['-r', '@swc-node/register', join(ROOT, 'apps', app, 'src', 'main.ts'), ...args], {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '/tmp',
        LOG_LEVEL: 'info',
        PORTOLAN_INSTANCE: name,
        ...(app === 'hub' || app === 'gateway' ? { PORTOLAN_ADMIN_TOKEN: TEST_ADMIN_TOKEN } : {}),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 2000) this.output.splice(0, 1000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('exit', (code) => {
      this.exited = true;
      this.code = code;
    });
  }

  /** The exit code once the process has exited; null while it runs. */
  get exitCode(): number | null {
    return this.exited ? (this.code ?? -1) : null;
  }

  get log(): string {
    return this.output.join('');
  }

  /** Waits until a log line contains `text` (bounded), failing early if the process dies. */
  async waitForLog(text: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.log.includes(text)) {
      if (this.exited) throw new Error(`${this.name} exited before logging "${text}":\n${this.log.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not log "${text}" within ${timeoutMs} ms:\n${this.log.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** Kills it with no chance to say anything (SIGKILL), as a crash or the OOM killer would. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await done;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on 127.0.0.1 for a service under test. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
