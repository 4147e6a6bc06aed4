import { hostname } from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Alert, deliver, retryDelayMs } from '@portolan/alerts';
import { AlertingConfig } from '@portolan/config';
import { Logger } from '@portolan/logging';
import { AlertChannelStore, DATA_SOURCE, LOGGER, PORTOLAN_VERSION, StoredChannel } from '@portolan/platform';
import { ALERTING_CONFIG } from './alerting.tokens';

/** A claimed delivery is someone else's again after this long (the process that claimed it died). */
const CLAIM_MS = 60_000;
/** Channels (their opened secrets) are read again at most this often. */
const CHANNEL_TTL_MS = 5_000;

interface DueRow {
  id: string;
  channel_id: string;
  alert: Alert;
  attempts: number;
  event_occurred_at: Date;
}

/**
 * Sends stored deliveries, at least once: due rows are claimed (FOR UPDATE SKIP LOCKED, so any
 * number of alerting processes share the work), sent, and marked delivered with their latency;
 * a failure is retried with exponential backoff and jitter, and after the last attempt the
 * delivery is dead (kept, retried from the API) and its channel marked degraded until it
 * delivers again. Nothing is dropped silently: every outcome is in the row and the log.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopping = false;
  private readonly channels = new Map<string, { at: number; channel: StoredChannel | Error }>();

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ALERTING_CONFIG) private readonly config: AlertingConfig,
    private readonly store: AlertChannelStore,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.wake(), this.config.pollMs);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Looks for due deliveries now (new ones were stored, or the poll interval passed). */
  wake(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      for (let round = 0; round < 100 && !this.stopping; round++) {
        const due = await this.claim();
        if (!due.length) return;
        await Promise.all(due.map((row) => this.send(row)));
      }
    } catch (error) {
      this.logger.error({ err: String(error) }, 'alert delivery loop failed; will try again');
    }
  }

  private claim(): Promise<DueRow[]> {
    return this.db.query(
      `WITH due AS (
         SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
       claimed AS (
         UPDATE alert_deliveries d SET next_attempt_at = now() + $2 * interval '1 millisecond' FROM due WHERE d.id = due.id
         RETURNING d.id, d.channel_id, d.alert, d.attempts, d.event_occurred_at)
       SELECT * FROM claimed`,
      [this.config.concurrency, CLAIM_MS],
    );
  }

  private async send(row: DueRow): Promise<void> {
    const attempt = row.attempts + 1;
    const started = Date.now();
    try {
      const channel = await this.channel(row.channel_id);
      await deliver(channel.settings, channel.secrets, row.alert, { hostname: hostname(), version: PORTOLAN_VERSION });
      const latency = Date.now() - new Date(row.event_occurred_at).getTime();
      await this.db.query(`UPDATE alert_deliveries SET status = 'delivered', attempts = $2, delivered_at = now(), latency_ms = $3, last_error = NULL WHERE id = $1`, [row.id, attempt, latency]);
      if (channel.status === 'degraded') await this.markChannel(channel.id, 'healthy', null);
      this.logger.debug({ deliveryId: row.id, channelId: row.channel_id, attempt, sendMs: Date.now() - started }, 'alert delivered');
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const dead = attempt >= this.config.maxAttempts;
      await this.db.query(
        `UPDATE alert_deliveries SET attempts = $2, last_error = $3, status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
                next_attempt_at = now() + $5 * interval '1 millisecond' WHERE id = $1`,
        [row.id, attempt, reason.slice(0, 500), dead, retryDelayMs(attempt)],
      );
      if (dead) {
        await this.markChannel(row.channel_id, 'degraded', reason.slice(0, 500));
        this.logger.error({ deliveryId: row.id, channelId: row.channel_id, attempts: attempt, reason }, 'alert delivery is dead after its last attempt; retry it from the API');
      } else this.logger.warn({ deliveryId: row.id, channelId: row.channel_id, attempt, reason }, 'alert delivery failed; will retry');
    }
  }

  private async channel(id: string): Promise<StoredChannel> {
    const cached = this.channels.get(id);
    let entry = cached && Date.now() - cached.at < CHANNEL_TTL_MS ? cached.channel : undefined;
    if (!entry) {
      entry = await this.store.load(this.db.manager, id).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
      this.channels.set(id, { at: Date.now(), channel: entry });
    }
    if (entry instanceof Error) throw entry;
    return entry;
  }

  private async markChannel(id: string, status: 'healthy' | 'degraded', reason: string | null): Promise<void> {
    const rows: unknown[] = await this.db.query(`WITH u AS (UPDATE alert_channels SET status = $2, status_reason = $3 WHERE id = $1 AND status <> $2 RETURNING id) SELECT * FROM u`, [id, status, reason]);
    this.channels.delete(id);
    if (rows.length) this.logger.warn({ channelId: id, status, reason }, status === 'degraded' ? 'alert channel degraded' : 'alert channel delivers again');
  }
}
