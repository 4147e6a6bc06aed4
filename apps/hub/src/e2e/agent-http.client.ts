import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';

export interface RawResponse<T = Record<string, unknown>> {
  status: number;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or undefined when the body was not JSON. */
  body: T;
  text: string;
}

export interface RawRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/**
 * A raw HTTP client of the agent API for tests: any body, any headers, gzip on request. It
 * acts as an agent would, without the agent program. Plain HTTP to a loopback gateway only.
 */
export class AgentHttpClient {
  constructor(readonly baseUrl: string) {
    if (!/^http:\/\/127\.0\.0\.\d+:\d+\//.test(`${baseUrl}/`)) throw new Error(`the test client talks to 127.0.0.x only, not ${baseUrl}`);
  }

  send<T = Record<string, unknown>>(req: RawRequest): Promise<RawResponse<T>> {
    const url = new URL(`${this.baseUrl}${req.path}`);
    const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    const named = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
    // A chunked body has no declared length: the server finds its size only by reading it.
    if (body !== undefined && !named('content-length') && !named('transfer-encoding')) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      let settled = false;
      const r = httpRequest(url, { method: req.method, headers, timeout: 60_000, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          settled = true;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
        });
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`${req.method} ${req.path} timed out`)));
      // The server may answer (413, 401) before it has read a large body and close the
      // connection; the answer still arrives, so a write error alone is not the outcome.
      r.on('error', (error) => {
        if (!settled) setTimeout(() => (settled ? undefined : reject(error)), 200);
      });
      r.end(body);
    });
  }

  /** POST of a JSON value (or of raw text) with the given headers. */
  postJson<T = Record<string, unknown>>(path: string, value: unknown, headers: Record<string, string> = {}): Promise<RawResponse<T>> {
    return this.send<T>({ method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body: typeof value === 'string' ? value : JSON.stringify(value) });
  }
}

export interface EnrolledAgent {
  agentId: string;
  secret: string;
  deviceId: string;
  site: string;
  groups: string[];
}

export interface UploadOptions {
  /** The Idempotency-Key header; a fresh one when not given, none when null. */
  idempotencyKey?: string | null;
  gzip?: boolean;
  authorization?: string;
}

/** One agent identity speaking the agent API: poll, config, scan-started, results. */
export class TestAgent {
  /** How far this agent's clock is from the test's: every call then carries it (`x-portolan-agent-time`); undefined, no stamp (an older agent). */
  clockOffsetMs?: number;
  /** Whether every call says this process's boot (`x-portolan-agent-boot`), as agents do since clones re-enrol; false: an older agent. */
  saysBoot = true;
  /** What this agent program says it can do on its polls (`features`); undefined: nothing (an older agent). */
  features?: string[];

  constructor(
    readonly http: AgentHttpClient,
    readonly identity: EnrolledAgent,
    readonly version = '0.9.0-test',
    /** The agent process's boot: a new one is a new process (a restart, or a clone of its identity). */
    readonly boot: string = randomUUID(),
  ) {}

  get id(): string {
    return this.identity.agentId;
  }

  get authorization(): string {
    return `Bearer ${this.identity.agentId}.${this.identity.secret}`;
  }

  /** The same agent process talking to another gateway replica. */
  via(http: AgentHttpClient): TestAgent {
    return new TestAgent(http, this.identity, this.version, this.boot);
  }

  /** The headers of every call: its authorization, its boot and, if this agent has a clock, the time on it. */
  private headers(authorization: string, more: Record<string, string> = {}): Record<string, string> {
    return {
      ...more,
      authorization,
      ...(this.saysBoot ? { 'x-portolan-agent-boot': this.boot } : {}),
      ...(this.clockOffsetMs === undefined ? {} : { 'x-portolan-agent-time': String(Date.now() + this.clockOffsetMs) }),
    };
  }

  config<T = Record<string, unknown>>(authorization = this.authorization): Promise<RawResponse<T>> {
    return this.http.send<T>({ method: 'GET', path: '/agent/config', headers: this.headers(authorization) });
  }

  poll<T = { configVersion: number; jobs: { jobId: string; trackerId: string; trigger: string }[] }>(
    options: { wait?: number; spoolEntries?: number; spoolDropped?: number; configVersion?: number; authorization?: string } = {},
  ): Promise<RawResponse<T>> {
    const query = new URLSearchParams({
      wait: String(options.wait ?? 0),
      boot: this.boot,
      version: this.version,
      spoolEntries: String(options.spoolEntries ?? 0),
      spoolDropped: String(options.spoolDropped ?? 0),
    });
    if (options.configVersion !== undefined) query.set('configVersion', String(options.configVersion));
    if (this.features) query.set('features', this.features.join(','));
    return this.http.send<T>({ method: 'GET', path: `/agent/jobs?${query}`, headers: this.headers(options.authorization ?? this.authorization) });
  }

  /** The host this agent's boot runs on (`POST /agent/host`). */
  host(report: { hostname: string; os: { platform: string; release: string; description?: string } }): Promise<RawResponse> {
    return this.http.postJson('/agent/host', { boot: this.boot, ...report }, this.headers(this.authorization));
  }

  /** An identity of its own for this process, which the hub answered `clone` (`POST /agent/reenrol`). */
  reenrol(facts: { name: string; hostname: string; os?: { platform: string; release: string } }, authorization = this.authorization): Promise<RawResponse<EnrolledAgent>> {
    const body = { boot: this.boot, name: facts.name, hostname: facts.hostname, os: facts.os ?? { platform: 'linux', release: '6.1.0' }, version: this.version, scanner: false };
    return this.http.postJson<EnrolledAgent>('/agent/reenrol', body, this.headers(authorization));
  }

  started(report: { jobId: string; trackerId: string; trigger: string; startedAt: string }): Promise<RawResponse> {
    return this.http.postJson('/agent/scans', report, this.headers(this.authorization));
  }

  /** How far a run has got (`POST /agent/progress`); the body as given, to send bad ones too. */
  progress(report: Record<string, unknown>): Promise<RawResponse> {
    return this.http.postJson('/agent/progress', report, this.headers(this.authorization));
  }

  upload<T = Record<string, unknown>>(result: unknown, options: UploadOptions = {}): Promise<RawResponse<T>> {
    const json = Buffer.from(typeof result === 'string' ? result : JSON.stringify(result), 'utf8');
    const headers = this.headers(options.authorization ?? this.authorization, { 'content-type': 'application/json' });
    const key = options.idempotencyKey === undefined ? randomUUID() : options.idempotencyKey;
    if (key !== null) headers['idempotency-key'] = key;
    if (options.gzip) headers['content-encoding'] = 'gzip';
    return this.http.send<T>({ method: 'POST', path: '/agent/results', headers, body: options.gzip ? gzipSync(json) : json });
  }
}

/** Enrols by token; throws with the hub's answer unless it is 201. */
export async function enrol(
  http: AgentHttpClient,
  token: string,
  facts: { name: string; hostname: string; platform: string; release: string; scanner?: boolean; features?: string[] },
): Promise<RawResponse<EnrolledAgent>> {
  return http.postJson<EnrolledAgent>('/agent/enrol', {
    token,
    name: facts.name,
    hostname: facts.hostname,
    os: { platform: facts.platform, release: facts.release },
    version: '0.9.0-test',
    scanner: facts.scanner ?? false,
    ...(facts.features && { features: facts.features }),
  });
}
