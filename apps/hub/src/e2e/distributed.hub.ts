import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Client } from 'pg';
import { Messages, streamOf } from '@portolan/contracts';
import { createTestDatabase } from '@portolan/persistence';
import { ApiClient } from './api.client';
import { freePort, ServiceProcess } from './service.process';

/** A service to start: its app, and the process's name and environment when they differ from the hub's. */
export type ServiceSpec = string | { readonly name: string; readonly app: string; readonly env?: Record<string, string> };

/**
 * A hub in its distributed mode, each service its own process, over a database of its own on
 * the real Postgres and over the real NATS JetStream: what the distributed e2e suites share.
 * `create` it in `beforeAll` and `stop` it in `afterAll`, which stops what it started and drops
 * the database and the data directory.
 */
export class DistributedHub {
  readonly processes: ServiceProcess[] = [];

  private constructor(
    /** What every service is started with: the database, the bus, a data directory, plain HTTP on 127.0.0.1, a 500 ms scheduler tick, and the suite's own settings. */
    readonly env: Readonly<Record<string, string>>,
    /** A connection to the hub's database, for what a test reads or checks there. */
    readonly sql: Client,
    private readonly dataDir: string,
    private readonly dropDatabase: () => Promise<void>,
  ) {}

  /** A new database (named after `name`) and data directory; `env` adds to or overrides the settings every service is given. */
  static async create(name: string, env: Record<string, string> = {}): Promise<DistributedHub> {
    const db = await createTestDatabase(name);
    const dataDir = mkdtempSync(join(tmpdir(), `${name}-`));
    const sql = new Client({ connectionString: db.url });
    await sql.connect();
    return new DistributedHub(
      {
        DATABASE_URL: db.url,
        NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
        PORTOLAN_DATA_DIR: dataDir,
        GATEWAY_PLAIN_HTTP: 'true',
        GATEWAY_HOST: '127.0.0.1',
        SCHEDULER_TICK_MS: '500',
        ...env,
      },
      sql,
      dataDir,
      db.drop,
    );
  }

  /** Starts a gateway on a free port of 127.0.0.1 and waits until it answers; returns the base URL of its API and its process. */
  async gateway(name = 'gateway', env: Record<string, string> = {}): Promise<{ url: string; process: ServiceProcess }> {
    const port = await freePort();
    const gateway = new ServiceProcess(name, 'gateway', { ...this.env, ...env, GATEWAY_PORT: String(port) });
    this.processes.push(gateway);
    const url = `http://127.0.0.1:${port}/api`;
    await new ApiClient(url).waitForHealth();
    return { url, process: gateway };
  }

  /** Starts services and waits until each has started, and a scheduler until it leads; returns their processes, in the order given. */
  async start(...specs: ServiceSpec[]): Promise<ServiceProcess[]> {
    const started = specs.map((spec) => {
      const { name, app, env } = typeof spec === 'string' ? { name: spec, app: spec, env: {} } : spec;
      return { app, process: new ServiceProcess(name, app, { ...this.env, ...env }) };
    });
    this.processes.push(...started.map((s) => s.process));
    await Promise.all(started.map((s) => s.process.waitForLog('service started')));
    for (const s of started) if (s.app === 'scheduler') await s.process.waitForLog('scheduler leads', 10_000);
    return started.map((s) => s.process);
  }

  /** Writes the end of each service's log to stderr (when a test failed). */
  dumpLogs(chars = 5_000): void {
    for (const p of this.processes) process.stderr.write(`--- ${p.name} ---\n${p.log.slice(-chars)}\n`);
  }

  /** Runs `test`; if it fails, the services' logs are written out before the failure goes on. */
  async logsOnFailure<T>(test: () => Promise<T>): Promise<T> {
    try {
      return await test();
    } catch (error) {
      this.dumpLogs();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
    await this.sql.end();
    await this.dropDatabase();
    rmSync(this.dataDir, { recursive: true, force: true });
    await this.removeSiteConsumers();
  }

  /** The durable consumers the scanner workers of the suite's own site made: they would outlive it on the machine's NATS, a pair a run. */
  private async removeSiteConsumers(): Promise<void> {
    const site = this.env['SCANNER_SITE'];
    if (!site) return;
    const nc = await connect({ servers: this.env['NATS_URL'] });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = streamOf(Messages.scanRequested).name;
      for (const durable of [`scanner-${site}`, `scanner_v2-${site}`]) await jsm.consumers.delete(stream, durable).catch(() => undefined);
    } finally {
      await nc.close();
    }
  }

}
