import { ChildProcess, fork, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import type { LoadCommand, LoadReply, PhaseResult } from './load.protocol';

export const ROOT = join(__dirname, '..', '..');
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process started by the bench, with its output kept (bounded) and a bounded stop. */
export class Child {
  private readonly chunks: string[] = [];
  private exit?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.chunks.push(chunk.toString());
      if (this.chunks.length > 4000) this.chunks.splice(0, 2000);
    };
    process.stdout?.on('data', keep);
    process.stderr?.on('data', keep);
    process.on('exit', (code, signal) => (this.exit = { code, signal }));
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error(`${this.name} did not start`);
    return this.process.pid;
  }

  get log(): string {
    return this.chunks.join('');
  }

  get exited(): boolean {
    return this.exit !== undefined;
  }

  /** Waits (bounded) until `ready()` holds, failing early if the process died. */
  async waitUntil(what: string, ready: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}:\n${this.log.slice(-3000)}`);
      if (await ready()) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: not ${what} within ${timeoutMs} ms:\n${this.log.slice(-3000)}`);
      await sleep(200);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; only this child, by its own pid. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exit || this.process.pid === undefined) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** A free TCP port on 127.0.0.1. */
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

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A private JetStream server for the bench, so its messages never reach other work's durable consumers. */
export function startNats(binary: string, port: number, storeDir: string): Child {
  return new Child('nats-server', spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The gateway as `npm run start:gateway` starts it (TypeScript through swc at start-up). */
export function startGateway(env: Record<string, string>, profileHook: boolean): Child {
  const preload = ['-r', '@swc-node/register', ...(profileHook ? ['-r', join(ROOT, 'bench', 'agents', 'cpu-profile.hook.ts')] : [])];
  const child = spawn(process.execPath, [...preload, join(ROOT, 'apps', 'gateway', 'src', 'main.ts')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: profileHook ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  return new Child('gateway', child);
}

export function startBare(port: number, keyFile: string, certFile: string): Child {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', join(ROOT, 'bench', 'agents', 'bare.server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', BARE_PORT: String(port), BARE_KEY_FILE: keyFile, BARE_CERT_FILE: certFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Child('bare', child);
}

/** The load generator process and a typed request/answer over its IPC channel. */
export class LoadGenerator {
  readonly child: Child;
  private nextId = 1;
  private readonly listeners = new Set<(reply: LoadReply) => void>();

  constructor() {
    const proc = fork(join(ROOT, 'bench', 'agents', 'load.worker.ts'), [], { cwd: ROOT, execArgv: ['-r', '@swc-node/register'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = new Child('load-generator', proc);
    proc.on('message', (reply: LoadReply) => {
      for (const listener of [...this.listeners]) listener(reply);
    });
  }

  init(command: Extract<LoadCommand, { kind: 'init' }>): Promise<void> {
    return this.await(-1, 'ready', 60_000, () => this.child.process.send(command)).then(() => undefined);
  }

  /**
   * Runs one phase. `onEvent` hears its steady-window marks (held and upload phases). Bounded: the phase's
   * own duration plus `slackMs`.
   */
  async run(command: DistributiveOmit<Exclude<LoadCommand, { kind: 'init' | 'exit' }>, 'id'>, timeoutMs: number, onEvent?: (kind: 'steady-start' | 'steady-end') => void): Promise<PhaseResult> {
    const id = this.nextId++;
    const events = (reply: LoadReply) => {
      if (reply.id === id && (reply.kind === 'steady-start' || reply.kind === 'steady-end')) onEvent?.(reply.kind);
    };
    this.listeners.add(events);
    try {
      const reply = await this.await(id, 'done', timeoutMs, () => this.child.process.send({ ...command, id } as LoadCommand));
      if (reply.kind !== 'done') throw new Error('unexpected reply');
      return reply.result;
    } finally {
      this.listeners.delete(events);
    }
  }

  async exit(): Promise<void> {
    if (this.child.exited) return;
    this.child.process.send({ kind: 'exit' } satisfies LoadCommand);
    await Promise.race([new Promise((resolve) => this.child.process.once('exit', resolve)), sleep(5_000)]);
    await this.child.stop(2_000);
  }

  private await(id: number, kind: LoadReply['kind'], timeoutMs: number, send: () => void): Promise<LoadReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`load generator: no answer to command ${id} within ${timeoutMs} ms`)), timeoutMs);
      const exitListener = () => finish(new Error(`load generator exited:\n${this.child.log.slice(-3000)}`));
      const listener = (reply: LoadReply) => {
        if (reply.id !== id) return;
        if (reply.kind === 'failed') finish(new Error(`load generator failed: ${reply.error}`));
        else if (reply.kind === kind) finish(undefined, reply);
      };
      const finish = (error?: Error, reply?: LoadReply) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        this.child.process.off('exit', exitListener);
        if (error) reject(error);
        else resolve(reply!);
      };
      this.listeners.add(listener);
      this.child.process.once('exit', exitListener);
      send();
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
