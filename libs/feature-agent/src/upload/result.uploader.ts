import { randomUUID } from 'node:crypto';
import { AgentResult } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { gzipJson, HubClient, HubError } from '../hub/hub.client';
import { ResultSpool } from '../spool/result.spool';

const RESULT_KIND = 'agent-result.v1';
const MAX_BACKOFF_MS = 30_000;

/**
 * Every result goes to the on-disk spool first (durable before anything else happens), and the
 * spool is drained oldest first: upload, and only after the hub accepted it (or said it already
 * had it), remove. The idempotency key is made once and kept in the spool, so an upload retried
 * after a crash or a lost answer is recognised by the hub and applied once. Results the hub
 * refuses for good (a 4xx other than 401/408/429) are dropped with an error in the log, so one
 * bad result cannot block the ones behind it.
 */
export class ResultUploader {
  private draining?: Promise<void>;
  private retryTimer?: NodeJS.Timeout;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly spool: ResultSpool,
    private readonly hub: HubClient,
    private readonly logger: Logger,
    private readonly onUnauthorized: (error: HubError) => void,
  ) {}

  async submit(result: AgentResult): Promise<void> {
    const entry = await this.spool.append({ idempotencyKey: randomUUID(), kind: RESULT_KIND, ref: result.jobId, body: gzipJson(result) });
    this.logger.debug({ seq: entry.seq, jobId: result.jobId, trackerId: result.trackerId }, 'result spooled');
    void this.drain();
  }

  /** Uploads what the spool holds, in order; resolves when it is empty or the hub is away. */
  drain(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.draining ??= this.drainOnce().finally(() => (this.draining = undefined));
    return this.draining;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  /** Stops, and resolves once an upload under way has had its answer. */
  async halt(): Promise<void> {
    this.stop();
    await this.draining?.catch(() => undefined);
  }

  private async drainOnce(): Promise<void> {
    for (let entry = await this.spool.peek(); entry && !this.stopped; entry = await this.spool.peek()) {
      try {
        const answer = await this.hub.upload(entry.body, entry.idempotencyKey);
        this.logger.info({ seq: entry.seq, jobId: answer.jobId, duplicate: answer.duplicate, spooled: this.spool.depth().entries - 1 }, 'result uploaded');
      } catch (error) {
        if (error instanceof HubError && error.status === 401) {
          this.onUnauthorized(error);
          return;
        }
        if (error instanceof HubError && !error.transient) {
          this.logger.error({ seq: entry.seq, status: error.status, code: error.code, err: error.message }, 'the hub refused a result for good; dropped from the spool');
        } else {
          this.failures += 1;
          const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(5, this.failures - 1));
          this.logger.warn({ err: (error as Error).message, spooled: this.spool.depth().entries, retryInMs: delay }, 'could not upload results; kept in the spool');
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => void this.drain(), delay);
          return;
        }
      }
      this.failures = 0;
      await this.spool.remove(entry.seq);
    }
  }
}
