import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import { Client } from 'pg';
import { BENCH_AGENT, type AgentIdentity, type UploadIdentity } from './load.protocol';

/** A small JSON client for the gateway's REST API during setup (not timed). */
export class SetupClient {
  private readonly agent: Agent;

  constructor(
    private readonly port: number,
    ca: Buffer,
    /** An admin token of the operator API, sent unless a call gives its own Authorization. */
    private readonly operatorToken: string,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 32, ca });
  }

  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: this.port, method, path: `/api${path}`, agent: this.agent, timeout: 30_000, headers: { authorization: `Bearer ${this.operatorToken}`, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}), ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T });
            } catch {
              reject(new Error(`${method} ${path}: ${res.statusCode} and a body that is not JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  async expect<T>(status: number, method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const answer = await this.json<T>(method, path, body, headers);
    if (answer.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${answer.status}: ${JSON.stringify(answer.body).slice(0, 500)}`);
    return answer.body;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** One agent as the bench knows it: identity and the device it was enrolled with. */
export interface BenchAgent extends AgentIdentity {
  readonly deviceId: string;
}

/**
 * One agent enrolled through the real API (token, then enrol), as a check that the agents the
 * bench writes with SQL look like enrolled ones to the gateway; it joins the simulated fleet.
 */
export async function enrolOne(client: SetupClient): Promise<BenchAgent> {
  const { token } = await client.expect<{ token: string }>(201, 'POST', '/enrollment-tokens', { name: 'bench-agents', maxUses: 1 });
  const enrolled = await client.expect<{ agentId: string; secret: string; deviceId: string }>(201, 'POST', '/agent/enrol', {
    token,
    name: 'bench-agent-00000',
    hostname: 'bench-agent-00000.bench.test',
    os: { platform: 'linux', release: '6.1.0' },
    version: BENCH_AGENT.version,
    scanner: false,
    features: BENCH_AGENT.features,
  });
  return { id: enrolled.agentId, secret: enrolled.secret, deviceId: enrolled.deviceId };
}

/**
 * Writes `count` agents and their host devices straight into Postgres, as enrolment would
 * (secret_hash = SHA-256 of the secret, status 'online' as for an agent already polling), in
 * batches of 2,000 rows with unnest; much faster than 10,000 enrolments and not what is measured.
 */
export async function insertAgents(databaseUrl: string, count: number, firstIndex: number): Promise<BenchAgent[]> {
  const out: BenchAgent[] = [];
  const sql = new Client({ connectionString: databaseUrl });
  await sql.connect();
  try {
    for (let from = 0; from < count; from += 2_000) {
      const batch = Array.from({ length: Math.min(2_000, count - from) }, (_, i) => {
        const index = firstIndex + from + i;
        const name = `bench-agent-${String(index).padStart(5, '0')}`;
        return { id: randomUUID(), deviceId: randomUUID(), secret: randomBytes(32).toString('base64url'), name, hostname: `${name}.bench.test` };
      });
      await sql.query('BEGIN');
      await sql.query(
        `INSERT INTO devices (id, name, kind, address, normalized_address, host_count)
         SELECT d.id, d.name, 'host', d.hostname, lower(d.hostname), 1 FROM unnest($1::uuid[], $2::text[], $3::text[]) AS d(id, name, hostname)`,
        [batch.map((a) => a.deviceId), batch.map((a) => a.name), batch.map((a) => a.hostname)],
      );
      await sql.query(
        `INSERT INTO agents (id, name, hostname, os_platform, os_release, version, features, device_id, scanner, secret_hash, status, boot_id, last_seen_at, enrolled_at)
         SELECT a.id, a.name, a.hostname, 'linux', '6.1.0', $6, $7::text[], a.device_id, false, sha256(convert_to(a.secret, 'UTF8')), 'online', gen_random_uuid(), now(), now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[]) AS a(id, name, hostname, device_id, secret)`,
        [batch.map((a) => a.id), batch.map((a) => a.name), batch.map((a) => a.hostname), batch.map((a) => a.deviceId), batch.map((a) => a.secret), BENCH_AGENT.version, BENCH_AGENT.features],
      );
      await sql.query('COMMIT');
      out.push(...batch.map((a) => ({ id: a.id, secret: a.secret, deviceId: a.deviceId })));
    }
    // The real agent was enrolled (status 'enrolled'); as a fleet already polling it is online too.
    await sql.query(`UPDATE agents SET status = 'online', last_seen_at = now() WHERE status = 'enrolled'`);
    await sql.query('ANALYZE agents; ANALYZE devices');
  } finally {
    await sql.end();
  }
  return out;
}

/** A self tracker (all TCP ports, hourly) for each agent, through the API, `parallel` at a time. */
export async function createSelfTrackers(client: SetupClient, fleet: readonly BenchAgent[], parallel: number): Promise<UploadIdentity[]> {
  const out: UploadIdentity[] = new Array(fleet.length);
  let next = 0;
  const worker = async () => {
    while (next < fleet.length) {
      const index = next++;
      const agent = fleet[index];
      const tracker = await client.expect<{ id: string }>(201, 'POST', '/trackers', {
        name: `self ${index}`,
        deviceId: agent.deviceId,
        type: 'network-port',
        mode: 'self',
        ports: [{ range: '1-65535', protocol: 'tcp' }],
        schedule: { kind: 'interval', every: '1h' },
        sendBaselineEvents: false,
      });
      out[index] = { id: agent.id, secret: agent.secret, trackerId: tracker.id };
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

/** Database-wide counters of the bench database, for queries and rows per request. */
export async function databaseCounters(databaseUrl: string): Promise<Record<string, number>> {
  const sql = new Client({ connectionString: databaseUrl });
  await sql.connect();
  try {
    const { rows } = await sql.query(
      `SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_fetched, tup_returned, blks_hit, blks_read
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    return Object.fromEntries(Object.entries(rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
  } finally {
    await sql.end();
  }
}

/** Rows the upload phases left behind: what "accepted" stored. */
export async function storedCounts(databaseUrl: string): Promise<Record<string, number>> {
  const sql = new Client({ connectionString: databaseUrl });
  await sql.connect();
  try {
    const { rows } = await sql.query(
      `SELECT (SELECT count(*) FROM agent_uploads) AS uploads,
              (SELECT count(*) FROM agent_uploads WHERE published_at IS NOT NULL) AS published,
              (SELECT count(*) FROM scan_jobs) AS jobs,
              (SELECT count(*) FROM events) AS events,
              (SELECT pg_database_size(current_database())) AS database_bytes`,
    );
    return Object.fromEntries(Object.entries(rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
  } finally {
    await sql.end();
  }
}
