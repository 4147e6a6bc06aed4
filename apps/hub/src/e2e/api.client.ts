import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { sleep, TEST_ADMIN_TOKEN } from './service.process';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/**
 * A small client of the REST API for tests, calling with an operator token (the tests' admin
 * token unless given another; `null` for none). Over HTTPS it trusts exactly the
 * certificate it is given (the hub's self-signed one), with normal host name verification.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly ca?: Buffer,
    private readonly token: string | null = TEST_ADMIN_TOKEN,
  ) {}

  /** The same hub, called with another operator token (or none). */
  as(token: string | null): ApiClient {
    return new ApiClient(this.baseUrl, this.ca, token);
  }

  get<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>> {
    return this.send<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown, raw = false): Promise<ApiResponse<T>> {
    return this.send<T>('POST', path, raw ? String(body) : JSON.stringify(body));
  }

  patch<T = Record<string, unknown>>(path: string, body: unknown): Promise<ApiResponse<T>> {
    return this.send<T>('PATCH', path, JSON.stringify(body));
  }

  delete<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>> {
    return this.send<T>('DELETE', path);
  }

  private send<T>(method: string, path: string, body?: string): Promise<ApiResponse<T>> {
    const url = new URL(`${this.baseUrl}${path}`);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            ...(this.token === null ? {} : { authorization: `Bearer ${this.token}` }),
            ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          },
          ca: this.ca,
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            try {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T });
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async waitForHealth(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        if ((await this.get('/health')).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.baseUrl}/health not ready within ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** Polls a job until it is finished (bounded). */
  async waitForJob(jobId: string, timeoutMs = 90_000): Promise<Record<string, unknown>> {
    return (await this.followJob(jobId, timeoutMs)).job;
  }

  /** The job once finished, and the progress its view showed each time it was read as running before (every 250 ms). */
  async followJob(jobId: string, timeoutMs = 90_000): Promise<{ job: Record<string, unknown>; runningProgress: number[] }> {
    const deadline = Date.now() + timeoutMs;
    const runningProgress: number[] = [];
    for (;;) {
      const { body } = await this.get(`/jobs/${jobId}`);
      if (['succeeded', 'partial', 'failed'].includes(String(body['status']))) return { job: body, runningProgress };
      if (body['status'] === 'running') runningProgress.push(Number(body['progressPercent']));
      if (Date.now() > deadline) throw new Error(`job ${jobId} not finished within ${timeoutMs} ms: ${JSON.stringify(body)}`);
      await sleep(250);
    }
  }
}
