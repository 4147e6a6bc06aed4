import { sleep } from './service.process';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** A small client of the REST API for tests (plain HTTP on loopback). */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async get<T = Record<string, unknown>>(path: string): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}${path}`);
    return { status: response.status, body: (await response.json()) as T };
  }

  async post<T = Record<string, unknown>>(path: string, body: unknown, raw = false): Promise<ApiResponse<T>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ? String(body) : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
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
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await this.get(`/jobs/${jobId}`);
      if (['succeeded', 'partial', 'failed'].includes(String(body['status']))) return body;
      if (Date.now() > deadline) throw new Error(`job ${jobId} not finished within ${timeoutMs} ms: ${JSON.stringify(body)}`);
      await sleep(250);
    }
  }
}
