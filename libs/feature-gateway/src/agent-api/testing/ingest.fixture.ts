import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { InProcessBus } from '@portolan/bus';
import { AgentResult } from '@portolan/contracts';
import { createLogger, Logger } from '@portolan/logging';
import { insertTestAgent } from '@portolan/persistence';
import { AgentUploadOutbox, EventRecorder } from '@portolan/platform';
import { AuthenticatedAgent } from '../agent.directory';
import { ScanStartIngest } from '../scan-start.ingest';
import { ScanStartRequest, UploadRequest } from '../upload-batch.plan';
import { UploadIngest } from '../upload.ingest';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * For integration tests of the agent ingests on a migrated database: an enrolled agent with a
 * self-scan tracker, the hub's jobs for it, its reports and uploads, and the ingests themselves
 * over an in-process bus.
 */
export class IngestFixture {
  private constructor(
    private readonly db: DataSource,
    readonly agent: AuthenticatedAgent,
    readonly trackerId: string,
  ) {}

  static async create(db: DataSource): Promise<IngestFixture> {
    const { agentId, deviceId } = await insertTestAgent(db);
    const [{ id: trackerId }]: { id: string }[] = await db.query(
      `INSERT INTO trackers (name, device_id, type, mode, agent_id, port_rules, port_set, schedule, send_baseline_events, tcp_technique, skip_host_discovery, enabled)
       VALUES ('t', $1, 'network-port', 'self', $2, '[]', '{"tcp":[{"from":40000,"to":40100}],"udp":[]}', '{"kind":"interval","every":"1h"}', false, 'auto', false, true) RETURNING id`,
      [deviceId, agentId],
    );
    return new IngestFixture(db, { id: agentId, name: 'h', deviceId, siteId: null, scanner: false, duplicated: false, keptBoot: null }, trackerId);
  }

  /** A job the hub asked the agent to run, not yet picked up. */
  async queuedJob(): Promise<string> {
    const id = randomUUID();
    await this.db.query(
      `INSERT INTO scan_jobs (id, tracker_id, device_id, trigger, agent_id, status, requested_at) VALUES ($1, $2, $3, 'manual', $4, 'queued', now())`,
      [id, this.trackerId, this.agent.deviceId, this.agent.id],
    );
    return id;
  }

  /** The agent's report that it started the run of `jobId` at `startedAt`. */
  report(jobId: string, startedAt: string): ScanStartRequest {
    return { agent: this.agent, report: { jobId, trackerId: this.trackerId, trigger: 'manual', startedAt }, clock: { receivedAtMs: Date.now() } };
  }

  /** The self-scan result of the run of `jobId` (one open port), as the agent uploads it. */
  upload(jobId: string): UploadRequest {
    const result = {
      jobId,
      trackerId: this.trackerId,
      trigger: 'manual',
      status: 'completed',
      engine: 'ss',
      engineVersion: 'iproute2-6.1',
      args: ['-tulpnH'],
      startedAt: '2026-12-05T10:00:01.000Z',
      finishedAt: '2026-12-05T10:00:01.200Z',
      coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
      hosts: [{ address: '127.0.0.1', hostnames: [], state: 'up', ports: [{ protocol: 'tcp', port: 40001, state: 'open' }] }],
    } as AgentResult;
    return { agent: this.agent, idempotencyKey: `key-${jobId}`, result, bodyGzip: gzipSync(JSON.stringify(result)), clock: { receivedAtMs: Date.now() } };
  }
}

/** The gateway's two ingests over `db` (`uploadReplicas` upload ingests, as on that many gateway replicas) and an in-process bus, logging to `logger` (nowhere unless given); `close` ends them all. */
export async function startIngests(
  db: DataSource,
  name: string,
  uploadReplicas = 1,
  logger: Logger = createLogger({ service: 'test', version: '0', level: 'silent' }),
): Promise<{ uploads: UploadIngest[]; starts: ScanStartIngest; close: () => Promise<void> }> {
  const bus = new InProcessBus(name, quiet);
  await bus.start();
  const events = new EventRecorder(bus, logger, db);
  const uploads = Array.from({ length: uploadReplicas }, () => new UploadIngest(db, logger, events, new AgentUploadOutbox(db, bus, logger)));
  const starts = new ScanStartIngest(db, logger, events);
  return {
    uploads,
    starts,
    close: async () => {
      for (const ingest of uploads) await ingest.onModuleDestroy();
      await starts.onModuleDestroy();
      await bus.close();
    },
  };
}
