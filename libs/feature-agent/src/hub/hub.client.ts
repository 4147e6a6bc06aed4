import { Agent as HttpsAgent, request } from 'node:https';
import { gzipSync } from 'node:zlib';
import { z } from 'zod';
import {
  AGENT_BOOT_HEADER,
  AGENT_CLOCK_HEADER,
  AgentConfig,
  AgentConfigSchema,
  AgentPollQuery,
  AgentPollResponse,
  AgentPollResponseSchema,
  AgentResultResponse,
  AgentResultResponseSchema,
  AgentHostReport,
  AgentScanProgress,
  AgentScanProgressResponse,
  AgentScanProgressResponseSchema,
  AgentScanStarted,
  EnrolRequest,
  EnrolResponse,
  EnrolResponseSchema,
  ReenrolRequest,
  RotateSecretResponse,
  RotateSecretResponseSchema,
} from '@portolan/contracts';
import { HubTrustError } from './hub.tls';

/** The hub answered with an error; `status` and the hub's error `code` say which. */
export class HubError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HubError';
  }

  /** Worth trying again later: the hub is busy or broken, not the request. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 429 || this.status === 408;
  }
}

/** The hub could not be reached (connection refused, reset, timed out, DNS). */
export class HubUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubUnreachableError';
  }
}

export interface AgentCredentials {
  readonly agentId: string;
  readonly secret: string;
}

/**
 * The agent's side of the agent API: every call is a request the agent makes (outbound HTTPS
 * to `hubUrl`); answers are validated against the contracts. The secret goes only into the
 * Authorization header, never into a URL or an error message.
 */
export class HubClient {
  private readonly base: URL;

  constructor(
    hubUrl: string,
    private readonly agent: HttpsAgent,
    private credentials?: AgentCredentials,
    /** This process's boot, said on every call (`X-Portolan-Agent-Boot`). */
    private readonly boot?: string,
  ) {
    this.base = new URL(hubUrl.endsWith('/') ? hubUrl : `${hubUrl}/`);
  }

  useCredentials(credentials: AgentCredentials): void {
    this.credentials = credentials;
  }

  enrol(body: EnrolRequest): Promise<EnrolResponse> {
    return this.call('POST', 'agent/enrol', EnrolResponseSchema, { body: json(body), auth: false });
  }

  /** An identity of its own for this process, which the hub answered `clone` (with the shared identity's credentials). */
  reenrol(body: ReenrolRequest): Promise<EnrolResponse> {
    return this.call('POST', 'agent/reenrol', EnrolResponseSchema, { body: json(body) });
  }

  config(signal?: AbortSignal): Promise<AgentConfig> {
    return this.call('GET', 'agent/config', AgentConfigSchema, { signal });
  }

  /** The long-poll; `signal` ends it at once (the agent is stopping). */
  poll(query: AgentPollQuery, signal?: AbortSignal): Promise<AgentPollResponse> {
    const search = new URLSearchParams({ wait: String(query.wait), boot: query.boot, version: query.version, spoolEntries: String(query.spoolEntries), spoolDropped: String(query.spoolDropped) });
    if (query.configVersion !== undefined) search.set('configVersion', String(query.configVersion));
    if (query.features?.length) search.set('features', query.features.join(','));
    return this.call('GET', `agent/jobs?${search.toString()}`, AgentPollResponseSchema, { timeoutMs: (query.wait + 20) * 1000, signal });
  }

  /** The host this process runs on (once a boot, and after a rename). */
  async reportHost(body: AgentHostReport, signal?: AbortSignal): Promise<void> {
    await this.call('POST', 'agent/host', z.unknown(), { body: json(body), signal });
  }

  async scanStarted(body: AgentScanStarted): Promise<void> {
    await this.call('POST', 'agent/scans', z.unknown(), { body: json(body) });
  }

  /** How far a run has got (`POST /api/agent/progress`); short, as it is advisory. */
  scanProgress(body: AgentScanProgress): Promise<AgentScanProgressResponse> {
    return this.call('POST', 'agent/progress', AgentScanProgressResponseSchema, { body: json(body), timeoutMs: 10_000 });
  }

  /** Uploads a result already gzip-compressed (as the spool keeps it). */
  upload(gzipped: Buffer, idempotencyKey: string): Promise<AgentResultResponse> {
    return this.call('POST', 'agent/results', AgentResultResponseSchema, {
      body: { data: gzipped, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'idempotency-key': idempotencyKey } },
      timeoutMs: 120_000,
    });
  }

  rotateSecret(): Promise<RotateSecretResponse> {
    return this.call('POST', 'agent/rotate-secret', RotateSecretResponseSchema, { body: json({}) });
  }

  private call<T>(
    method: string,
    path: string,
    schema: z.ZodType<T>,
    options: { body?: { data: Buffer; headers: Record<string, string> }; auth?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<T> {
    const url = new URL(path, this.base);
    const headers: Record<string, string> = { accept: 'application/json', ...(options.body?.headers ?? {}) };
    if (options.body) headers['content-length'] = String(options.body.data.length);
    if (this.boot) headers[AGENT_BOOT_HEADER] = this.boot;
    if (options.auth !== false) {
      if (!this.credentials) throw new Error('the agent is not enrolled');
      headers['authorization'] = `Bearer ${this.credentials.agentId}.${this.credentials.secret}`;
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      const req = request(url, { method, headers, agent: this.agent, timeout: timeoutMs, signal: options.signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 32 * 1024 * 1024) req.destroy(new HubUnreachableError(`${method} ${url.pathname}: answer larger than 32 MiB`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            return reject(new HubError(status, 'invalid_answer', `${method} ${url.pathname}: the hub answered ${status} with something that is not JSON`));
          }
          if (status >= 400) {
            const error = (body as { error?: { code?: string; message?: string } }).error;
            return reject(new HubError(status, error?.code ?? 'http_error', `${method} ${url.pathname}: ${status} ${error?.message ?? res.statusMessage ?? ''}`.trim()));
          }
          const parsed = schema.safeParse(body);
          if (!parsed.success) return reject(new HubError(status, 'invalid_answer', `${method} ${url.pathname}: unexpected answer: ${parsed.error.issues[0]?.message}`));
          resolve(parsed.data);
        });
        res.on('error', (error) => reject(new HubUnreachableError(`${method} ${url.pathname}: ${error.message}`)));
      });
      req.on('timeout', () => req.destroy(new HubUnreachableError(`${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => reject(classify(error, `${method} ${url.pathname}`)));
      // Stamped with the agent's clock once the call has its connection (not while it waits for one
      // from the pool; a pinned connection is made, tunnelled and checked by then, any other may
      // still be in its handshake), so that waiting is not taken for clock skew; the hub reads the
      // stamp when the headers arrive.
      req.once('socket', () => {
        req.setHeader(AGENT_CLOCK_HEADER, String(Date.now()));
        req.end(options.body?.data);
      });
    });
  }
}

function json(body: unknown): { data: Buffer; headers: Record<string, string> } {
  return { data: Buffer.from(JSON.stringify(body)), headers: { 'content-type': 'application/json' } };
}

export function gzipJson(body: unknown): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(body)));
}

const TLS_TRUST_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|UNABLE_TO_GET_ISSUER/;

/** A certificate problem is a trust error (configuration), never "hub unreachable" (retry). */
function classify(error: Error & { code?: string }, what: string): Error {
  if (error instanceof HubTrustError || error instanceof HubUnreachableError) return error;
  if (error.code && TLS_TRUST_CODES.test(error.code)) {
    return new HubTrustError(`${what}: the hub's certificate is not trusted (${error.code}: ${error.message}); set caFile to its CA or pinSha256 to its fingerprint`);
  }
  return new HubUnreachableError(`${what}: ${error.message}`);
}
