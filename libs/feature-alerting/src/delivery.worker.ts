import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Alert, deliver, retryDelayMs } from '@portolan/alerts';
import { AlertingConfig } from '@portolan/config';
import { Logger } from '@portolan/logging';
import { AlertChannelStore, DATA_SOURCE, EventRecorder, LOGGER, MicroBatcher, PORTOLAN_VERSION, queueResolvesSql, StoredChannel } from '@portolan/platform';
import { EventEntity } from '@portolan/persistence';
import { ALERTING_CONFIG } from './alerting.tokens';

/** A claimed delivery is someone else's again after this long (the process that claimed it died). */
const CLAIM_MS = 60_000;
/** Channels (their opened secrets) are read again at most this often. */
const CHANNEL_TTL_MS = 5_000;
/** Storm windows are looked at for summaries at most this often (not on every wake-up). */
const SUMMARY_EVERY_MS = 1_000;

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
 * delivers again; both turns are communications events of the hub (so another channel's rule
 * can page someone about them). Nothing is dropped silently: every outcome is in the row, the
 * log, or an event.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopping = false;
  private summarizedAt = 0;
  private readonly channels = new Map<string, { at: number; channel: StoredChannel | Error }>();
  private readonly delivered = new MicroBatcher<{ id: string; attempts: number; latency: number }, void>((rows) => this.recordDelivered(rows), { maxBatch: 500, concurrency: 2, maxQueued: 100_000 });

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ALERTING_CONFIG) private readonly config: AlertingConfig,
    private readonly store: AlertChannelStore,
    private readonly events: EventRecorder,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.wake(), this.config.pollMs);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
    await this.delivered.idle();
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

  /**
   * Keeps up to `concurrency` sends in flight: claims as many due deliveries as there are free
   * slots, and claims again as sends finish, so one slow receiver never holds back the others.
   * Delivered rows are recorded in groups (one statement for the sends that finished together).
   */
  private async drain(): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    try {
      if (Date.now() - this.summarizedAt >= SUMMARY_EVERY_MS) {
        this.summarizedAt = Date.now();
        await this.summarizeStorms();
      }
      for (let round = 0; round < 100_000 && !this.stopping; round++) {
        const free = this.config.concurrency - inFlight.size;
        const due = free > 0 ? await this.claim(free) : [];
        for (const row of due) {
          const sending: Promise<void> = this.send(row)
            .then((done) => (done ? this.delivered.submit(done) : undefined))
            .catch((error: unknown) => this.logger.error({ deliveryId: row.id, err: String(error) }, 'could not record an alert delivery; it will be sent again'))
            .finally(() => inFlight.delete(sending));
          inFlight.add(sending);
        }
        if (!inFlight.size) return;
        if (!due.length || inFlight.size >= this.config.concurrency) await Promise.race(inFlight);
      }
    } catch (error) {
      this.logger.error({ err: String(error) }, 'alert delivery loop failed; will try again');
    } finally {
      await Promise.allSettled([...inFlight]);
    }
  }

  /**
   * Records sent deliveries as delivered, in one statement. A PagerDuty trigger that a planned
   * change's re-evaluation cancelled while it was being sent did reach PagerDuty: it is recorded
   * delivered all the same, and its resolve is queued here, as the re-evaluation queues one for
   * a trigger delivered before it ran. (The rows are locked first, so a re-evaluation in
   * progress is waited for and its cancellation seen.)
   */
  private async recordDelivered(rows: readonly { id: string; attempts: number; latency: number }[]): Promise<void[]> {
    await this.db.query(
      `WITH v AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, attempts int, latency int)),
       was AS (SELECT d.id, d.status FROM alert_deliveries d JOIN v ON v.id = d.id FOR UPDATE OF d),
       sent AS (
         UPDATE alert_deliveries d SET status = 'delivered', attempts = v.attempts, delivered_at = now(), latency_ms = v.latency, last_error = NULL
           FROM was JOIN v ON v.id = was.id WHERE d.id = was.id
         RETURNING d.dedupe_key, d.event_id, d.rule_id, d.channel_id, d.alert, was.status AS was_status
       )
       ${queueResolvesSql(`(SELECT * FROM sent WHERE was_status = 'cancelled') t`)}`,
      [JSON.stringify(rows)],
    );
    return rows.map(() => undefined);
  }

  /**
   * Storm control: once a window is over, the alerts its rule held back become one summary
   * alert per channel ("37 more changes for rule …"), stored as deliveries like any other.
   */
  private async summarizeStorms(): Promise<void> {
    const created = await this.db.transaction(async (manager) => {
      const storms: { rule_id: string; window_start: Date; window_seconds: number; suppressed: number; samples: NonNullable<Alert['summary']>['samples']; name: string; severity: Alert['severity']; channel_ids: string[] }[] = await manager.query(
        `WITH due AS (
           SELECT rule_id, window_start FROM alert_storms
            WHERE suppressed > 0 AND summarized_at IS NULL AND window_start + window_seconds * interval '1 second' <= now()
            ORDER BY window_start LIMIT 50 FOR UPDATE SKIP LOCKED),
         done AS (
           UPDATE alert_storms s SET summarized_at = now() FROM due WHERE s.rule_id = due.rule_id AND s.window_start = due.window_start
           RETURNING s.rule_id, s.window_start, s.window_seconds, s.suppressed, s.samples)
         SELECT done.*, r.name, r.severity, r.channel_ids FROM done JOIN alert_rules r ON r.id = done.rule_id`,
      );
      const rows = storms.flatMap((storm) =>
        storm.channel_ids.map((channelId) => {
          const windowStart = new Date(storm.window_start);
          const windowEnd = new Date(windowStart.getTime() + storm.window_seconds * 1000).toISOString();
          const key = `storm:${storm.rule_id}:${windowStart.toISOString()}:${channelId}`;
          const alert: Alert = {
            id: key,
            rule: { id: storm.rule_id, name: storm.name },
            severity: storm.severity,
            event: { id: '', kind: 'storm-summary', occurredAt: windowEnd, device: { id: '', name: null }, host: null, itemType: null, itemKey: null, protocol: null, port: null, before: null, after: null, planned: false, plannedChangeId: null },
            link: `${this.config.consoleUrl.replace(/\/$/, '')}/api/events?since=${encodeURIComponent(windowStart.toISOString())}&until=${encodeURIComponent(windowEnd)}`,
            summary: { suppressed: storm.suppressed, windowStart: windowStart.toISOString(), windowSeconds: storm.window_seconds, samples: storm.samples },
          };
          return { id: randomUUID(), dedupe_key: key, rule_id: storm.rule_id, channel_id: channelId, alert, occurred_at: windowEnd };
        }),
      );
      if (!rows.length) return 0;
      await manager.query(
        `INSERT INTO alert_deliveries (id, dedupe_key, event_id, rule_id, channel_id, alert, status, attempts, next_attempt_at, created_at, event_occurred_at)
         SELECT v.id, v.dedupe_key, NULL, v.rule_id, v.channel_id, v.alert, 'pending', 0, now(), now(), v.occurred_at
           FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, dedupe_key text, rule_id uuid, channel_id uuid, alert jsonb, occurred_at timestamptz)
           JOIN alert_channels c ON c.id = v.channel_id
         ON CONFLICT (dedupe_key) DO NOTHING`,
        [JSON.stringify(rows)],
      );
      return rows.length;
    });
    if (created) this.logger.info({ summaries: created }, 'storm control: summaries of held-back alerts queued');
  }

  private claim(limit: number): Promise<DueRow[]> {
    return this.db.query(
      `WITH due AS (
         SELECT id FROM alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
       claimed AS (
         UPDATE alert_deliveries d SET next_attempt_at = now() + $2 * interval '1 millisecond' FROM due WHERE d.id = due.id
         RETURNING d.id, d.channel_id, d.alert, d.attempts, d.event_occurred_at)
       SELECT * FROM claimed`,
      [limit, CLAIM_MS],
    );
  }

  /** Sends one delivery; answers what to record when it was delivered (recorded in one statement per batch), undefined when not. */
  private async send(row: DueRow): Promise<{ id: string; attempts: number; latency: number } | undefined> {
    const attempt = row.attempts + 1;
    const started = Date.now();
    try {
      const channel = await this.channel(row.channel_id);
      await deliver(channel.settings, channel.secrets, row.alert, { hostname: hostname(), version: PORTOLAN_VERSION });
      const latency = Date.now() - new Date(row.event_occurred_at).getTime();
      this.logger.debug({ deliveryId: row.id, channelId: row.channel_id, attempt, sendMs: Date.now() - started }, 'alert delivered');
      // Delivered: whatever happens to the channel's status now, this alert is not sent again.
      if (channel.status === 'degraded') await this.markChannel(channel.id, 'healthy', null).catch((error: unknown) => this.logger.warn({ channelId: channel.id, err: String(error) }, 'could not mark the channel healthy; the next delivery tries again'));
      return { id: row.id, attempts: attempt, latency };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const dead = attempt >= this.config.maxAttempts;
      // The failure and, for the last attempt, the channel's turn to degraded are one transaction:
      // whoever sees the delivery dead sees its channel degraded. The channel is locked first, as
      // deleting a channel locks it before its deliveries go with it: never the other way round.
      const outcome = await this.db.transaction(async (manager) => {
        if (dead) await manager.query('SELECT 1 FROM alert_channels WHERE id = $1 FOR UPDATE', [row.channel_id]);
        const recorded: unknown[] = await manager.query(
          `WITH failed AS (
             UPDATE alert_deliveries SET attempts = $2, last_error = $3, status = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
                    next_attempt_at = now() + $5 * interval '1 millisecond' WHERE id = $1 AND status = 'pending' RETURNING id
           ) SELECT id FROM failed`, // not one cancelled meanwhile
          [row.id, attempt, reason.slice(0, 500), dead, retryDelayMs(attempt)],
        );
        if (!recorded.length) return undefined;
        return dead ? this.turnChannel(manager, row.channel_id, 'degraded', reason.slice(0, 500), row.id) : [];
      });
      if (!outcome) {
        this.logger.info({ deliveryId: row.id, channelId: row.channel_id, reason }, 'alert delivery failed after it was cancelled; nothing to retry');
        return undefined;
      }
      if (dead) {
        await this.channelTurned(row.channel_id, 'degraded', reason.slice(0, 500), outcome);
        this.logger.error({ deliveryId: row.id, channelId: row.channel_id, attempts: attempt, reason }, 'alert delivery is dead after its last attempt; retry it from the API');
      } else this.logger.warn({ deliveryId: row.id, channelId: row.channel_id, attempt, reason }, 'alert delivery failed; will retry');
      return undefined;
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

  /** Turns a channel degraded or healthy, once per turn, with its communications event. */
  private async markChannel(id: string, status: 'healthy' | 'degraded', reason: string | null): Promise<void> {
    const recorded = await this.db.transaction((manager) => this.turnChannel(manager, id, status, reason));
    await this.channelTurned(id, status, reason, recorded);
  }

  /** In the caller's transaction: the channel's new status and its communications event, none when it already had that status. */
  private async turnChannel(manager: EntityManager, id: string, status: 'healthy' | 'degraded', reason: string | null, deliveryId?: string): Promise<EventEntity[]> {
    const rows: { name: string; type: string }[] = await manager.query(
      `WITH u AS (UPDATE alert_channels SET status = $2, status_reason = $3 WHERE id = $1 AND status <> $2 RETURNING name, type) SELECT * FROM u`,
      [id, status, reason],
    );
    if (!rows.length) return [];
    const [channel] = rows;
    return this.events.insert(manager, [
      {
        kind: 'communications',
        deviceId: null,
        trackerId: null,
        jobId: null,
        occurredAt: new Date(),
        details: {
          what: status === 'degraded' ? 'alert-channel-degraded' : 'alert-channel-recovered',
          channelId: id,
          channelName: channel.name,
          channelType: channel.type,
          ...(reason ? { reason } : {}),
          ...(deliveryId ? { deliveryId } : {}),
        },
      },
    ]);
  }

  /** After the turn committed: the cached channel forgotten, the turn logged and announced. */
  private async channelTurned(id: string, status: 'healthy' | 'degraded', reason: string | null, recorded: EventEntity[]): Promise<void> {
    this.channels.delete(id);
    if (!recorded.length) return;
    this.logger.warn({ channelId: id, status, reason }, status === 'degraded' ? 'alert channel degraded' : 'alert channel delivers again');
    await this.events.announce(recorded).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not announce the channel event; it is announced again later'));
  }
}
