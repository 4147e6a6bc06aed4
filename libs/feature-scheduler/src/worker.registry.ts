import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { Messages, WorkerFeatures, WorkerPresence } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, NewEvent } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/** A worker stopped or silent this long is forgotten (its row deleted): names change with every restart that does not set `PORTOLAN_INSTANCE`. */
const FORGET_AFTER_MS = 7 * 86_400_000;

interface WorkerRow {
  kind: WorkerPresence['kind'];
  name: string;
  site: string;
  last_seen_at: Date;
}

/**
 * The scanner workers and collectors as their presence messages show them (`PresenceBeacon`):
 * every scheduler replica writes what it hears (`workers`), and the leader marks those silent
 * past `workerOfflineAfterMs` offline, each with a `worker-offline` communications event that
 * says whether its site still has one of its kind online. One that speaks again after that is a
 * `worker-online` event; one that said it was stopping is `stopped`, with no event (a deliberate
 * stop). `GET /workers` lists them.
 */
@Injectable()
export class WorkerRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private subscription?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    private readonly events: EventRecorder,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.workerPresence, (envelope) => {
      this.record(envelope.payload).catch((error: unknown) => this.logger.debug({ err: String(error) }, 'worker presence not recorded'));
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  /** Writes what a worker said, and a `worker-online` event if it had been taken for gone. */
  async record(presence: WorkerPresence, now = new Date()): Promise<void> {
    const rows = await this.db.transaction(async (manager) => {
      // Locked first: of the scheduler replicas that all hear it, the first finds it offline, the others online.
      const [was]: { status: string; last_seen_at: Date }[] = await manager.query(`SELECT status, last_seen_at FROM workers WHERE kind = $1 AND name = $2 FOR UPDATE`, [presence.kind, presence.worker]);
      await manager.query(
        `INSERT INTO workers (kind, name, site, version, features, concurrency, busy, started_at, first_seen_at, last_seen_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
         ON CONFLICT (kind, name) DO UPDATE SET site = EXCLUDED.site, version = EXCLUDED.version, features = EXCLUDED.features, concurrency = EXCLUDED.concurrency,
                busy = EXCLUDED.busy, started_at = EXCLUDED.started_at, last_seen_at = EXCLUDED.last_seen_at, status = EXCLUDED.status`,
        [presence.kind, presence.worker, presence.site, presence.version, JSON.stringify(presence.features), presence.concurrency, presence.busy, presence.startedAt, now, presence.stopping ? 'stopped' : 'online'],
      );
      if (was?.status !== 'offline' || presence.stopping) return [];
      const silentMs = now.getTime() - new Date(was.last_seen_at).getTime();
      const reason = `${presence.kind} worker "${presence.worker}" at ${siteLabel(presence.site)} speaks again after ${Math.round(silentMs / 1000)} s of silence`;
      return this.events.insert(manager, [workerEvent(presence, now, 'worker-online', { silentMs, reason })]);
    });
    await this.events.announce(rows);
  }

  /** The leader's: marks the workers silent past the threshold offline, with their events; forgets those long gone. */
  async markSilentOffline(now: Date): Promise<number> {
    const thresholdMs = this.config.workerOfflineAfterMs;
    const rows = await this.db.transaction(async (manager) => {
      const [gone]: [WorkerRow[], number] = await manager.query(
        `UPDATE workers SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 RETURNING kind, name, site, last_seen_at`,
        [new Date(now.getTime() - thresholdMs)],
      );
      if (!gone.length) return [];
      const online: { kind: string; site: string; n: number }[] = await manager.query(`SELECT kind, site, count(*)::int AS n FROM workers WHERE status = 'online' GROUP BY kind, site`);
      const onlineAt = (w: WorkerRow) => online.filter((o) => o.kind === w.kind && (o.site === w.site || o.site === '*' || w.site === '*')).reduce((n, o) => n + o.n, 0);
      return this.events.insert(
        manager,
        gone.map((w) => {
          const others = onlineAt(w);
          const reason =
            `${w.kind} worker "${w.name}" at ${siteLabel(w.site)} has not been heard from for ${Math.round(thresholdMs / 1000)} s; ` +
            (others ? `${others} other ${w.kind} worker${others === 1 ? ' is' : 's are'} online there` : `no ${w.kind} worker is online there now: its ${w.kind === 'scanner' ? 'scans' : 'collections'} wait in the queue`);
          return workerEvent({ worker: w.name, kind: w.kind, site: w.site }, now, 'worker-offline', { lastSeenAt: new Date(w.last_seen_at).toISOString(), thresholdMs, othersOnline: others, reason });
        }),
      );
    });
    await this.events.announce(rows);
    await this.db.query(`DELETE FROM workers WHERE status <> 'online' AND last_seen_at < $1`, [new Date(now.getTime() - FORGET_AFTER_MS)]);
    if (rows.length) this.logger.warn({ workers: rows.length }, 'workers went silent');
    return rows.length;
  }

  /**
   * Whether a scanner worker that paces is online at the site (or one serving every site);
   * undefined when no scanner worker there has ever said anything (workers from before presence).
   */
  async sitePaces(site: string): Promise<boolean | undefined> {
    const [row]: { known: number; paces: boolean | null }[] = await this.db.query(
      `SELECT count(*)::int AS known, bool_or(status = 'online' AND features ? $2) AS paces FROM workers WHERE kind = 'scanner' AND (site = $1 OR site = '*')`,
      [site, WorkerFeatures.scanPace],
    );
    return row.known ? Boolean(row.paces) : undefined;
  }
}

function siteLabel(site: string): string {
  return site === '*' ? 'every site' : `site "${site}"`;
}

function workerEvent(worker: Pick<WorkerPresence, 'worker' | 'kind' | 'site'>, occurredAt: Date, what: string, details: Record<string, unknown>): NewEvent {
  return { kind: 'communications', deviceId: null, trackerId: null, jobId: null, occurredAt, details: { what, worker: worker.worker, workerKind: worker.kind, site: worker.site, ...details } };
}
