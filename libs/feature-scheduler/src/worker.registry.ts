import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { Messages, WorkerPresence } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, NewEvent } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/** A worker stopped or silent this long is forgotten (its row deleted): names change with every restart that does not set `PORTOLAN_INSTANCE`. */
const FORGET_AFTER_MS = 7 * 86_400_000;
/** How often the leader forgets workers long gone. */
const FORGET_EVERY_MS = 3_600_000;

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
 *
 * Silence is only the workers' if this replica heard all the while: until it has listened (and
 * written what it heard) for the whole threshold, after a failed write, and after its own looks
 * were further apart than the threshold (the scheduler stopped, the host asleep), it marks no one.
 */
@Injectable()
export class WorkerRegistry implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: ConsumerHandle;
  private readonly recording = new Set<Promise<void>>();
  /** Since when this replica has heard, and written, every presence message. */
  private listeningSince = Date.now();
  private lastLook?: number;
  private forgottenAt = 0;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    private readonly events: EventRecorder,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.listeningSince = Date.now();
    this.subscription = await this.bus.subscribe(Messages.workerPresence, (envelope) => {
      const recorded = this.record(envelope.payload)
        .catch((error: unknown) => {
          this.listeningSince = Date.now();
          this.logger.warn({ worker: envelope.payload.worker, err: String(error) }, 'worker presence not recorded; no worker is taken for silent until presence is written again for the whole threshold');
        })
        .finally(() => this.recording.delete(recorded));
      this.recording.add(recorded);
    });
  }

  /** After the workers of this process said they stop (in their `onModuleDestroy`), before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.recording]);
    await this.subscription?.stop();
  }

  /**
   * Writes what a worker said, and a `worker-online` event if it had been taken for gone. A beat
   * that comes after the same process said it stops (out of order) leaves it stopped.
   */
  async record(presence: WorkerPresence, now = new Date()): Promise<void> {
    const rows = await this.db.transaction(async (manager) => {
      // Locked first: of the scheduler replicas that all hear it, the first finds it offline, the others online.
      const [was]: { status: string; last_seen_at: Date; started_at: Date }[] = await manager.query(
        `SELECT status, last_seen_at, started_at FROM workers WHERE kind = $1 AND name = $2 FOR UPDATE`,
        [presence.kind, presence.worker],
      );
      if (was?.status === 'stopped' && !presence.stopping && new Date(was.started_at).getTime() === Date.parse(presence.startedAt)) return [];
      await manager.query(
        `INSERT INTO workers (kind, name, site, version, features, concurrency, busy, started_at, first_seen_at, last_seen_at, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
         ON CONFLICT (kind, name) DO UPDATE SET site = EXCLUDED.site, version = EXCLUDED.version, features = EXCLUDED.features, concurrency = EXCLUDED.concurrency,
                busy = EXCLUDED.busy, started_at = EXCLUDED.started_at, last_seen_at = GREATEST(workers.last_seen_at, EXCLUDED.last_seen_at), status = EXCLUDED.status`,
        [presence.kind, presence.worker, presence.site, presence.version, JSON.stringify(presence.features), presence.concurrency, presence.busy, presence.startedAt, now, presence.stopping ? 'stopped' : 'online'],
      );
      if (was?.status !== 'offline' || presence.stopping) return [];
      const silentMs = Math.max(0, now.getTime() - new Date(was.last_seen_at).getTime());
      const reason = `${presence.kind} worker "${presence.worker}" at ${siteLabel(presence.site)} speaks again after ${Math.round(silentMs / 1000)} s of silence`;
      return this.events.insert(manager, [workerEvent(presence, await siteIdOf(manager, presence.site), now, 'worker-online', { silentMs, reason })]);
    });
    await this.events.announce(rows);
  }

  /** The leader's: marks the workers silent past the threshold offline, with their events; forgets those long gone. */
  async markSilentOffline(now: Date): Promise<number> {
    const thresholdMs = this.config.workerOfflineAfterMs;
    // Looks further apart than the threshold: this process did not run (or hear) in between.
    if (this.lastLook !== undefined && now.getTime() - this.lastLook > thresholdMs) this.listeningSince = now.getTime();
    this.lastLook = now.getTime();
    if (now.getTime() - this.listeningSince < thresholdMs) return 0;
    const rows = await this.db.transaction(async (manager) => {
      const [gone]: [WorkerRow[], number] = await manager.query(
        `UPDATE workers SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 RETURNING kind, name, site, last_seen_at`,
        [new Date(now.getTime() - thresholdMs)],
      );
      if (!gone.length) return [];
      const online: { kind: string; site: string; n: number }[] = await manager.query(`SELECT kind, site, count(*)::int AS n FROM workers WHERE status = 'online' GROUP BY kind, site`);
      // A site's own workers and those that serve every site cover it; only the latter cover every site.
      const onlineFor = (w: WorkerRow) => online.filter((o) => o.kind === w.kind && (o.site === '*' || o.site === w.site)).reduce((n, o) => n + o.n, 0);
      const events: NewEvent[] = [];
      for (const w of gone) {
        const others = onlineFor(w);
        const silentS = Math.round((now.getTime() - new Date(w.last_seen_at).getTime()) / 1000);
        const reason =
          `${w.kind} worker "${w.name}" at ${siteLabel(w.site)} has not been heard from for ${silentS} s; ` +
          (others ? `${others} other ${w.kind} worker${others === 1 ? ' is' : 's are'} online there` : `no ${w.kind} worker is online there now: its ${w.kind === 'scanner' ? 'scans' : 'collections'} wait in the queue`);
        const details = { lastSeenAt: new Date(w.last_seen_at).toISOString(), thresholdMs, othersOnline: others, reason };
        events.push(workerEvent({ worker: w.name, kind: w.kind, site: w.site }, await siteIdOf(manager, w.site), now, 'worker-offline', details));
      }
      return this.events.insert(manager, events);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ workers: rows.length }, 'workers went silent');
    if (now.getTime() - this.forgottenAt >= FORGET_EVERY_MS) {
      await this.db.query(`DELETE FROM workers WHERE status <> 'online' AND last_seen_at < $1`, [new Date(now.getTime() - FORGET_AFTER_MS)]);
      this.forgottenAt = now.getTime();
    }
    return rows.length;
  }

  /**
   * Whether a worker of the kind (with the feature, if given) is online for the site: its own or
   * one serving every site; undefined when no worker of the kind there has said anything for a
   * week (none ever did, or all are forgotten: workers from before presence).
   */
  async online(kind: WorkerPresence['kind'], site: string, feature?: string): Promise<boolean | undefined> {
    const [row]: { known: number; online: boolean | null }[] = await this.db.query(
      `SELECT count(*)::int AS known, bool_or(status = 'online' AND ($3::text IS NULL OR features ? $3::text)) AS online FROM workers WHERE kind = $1 AND (site = $2 OR site = '*')`,
      [kind, site, feature ?? null],
    );
    return row.known ? Boolean(row.online) : undefined;
  }
}

function siteLabel(site: string): string {
  return site === '*' ? 'every site' : `site "${site}"`;
}

/** The site's id, for alert rules scoped to sites (events of workers have no device to take it from); null for every site, or a site the hub does not have. */
async function siteIdOf(manager: EntityManager, site: string): Promise<string | null> {
  if (site === '*') return null;
  const [row]: { id: string }[] = await manager.query(`SELECT id FROM sites WHERE name = $1`, [site]);
  return row?.id ?? null;
}

function workerEvent(worker: Pick<WorkerPresence, 'worker' | 'kind' | 'site'>, siteId: string | null, occurredAt: Date, what: string, details: Record<string, unknown>): NewEvent {
  return { kind: 'communications', deviceId: null, trackerId: null, jobId: null, occurredAt, details: { what, worker: worker.worker, workerKind: worker.kind, site: worker.site, siteId, ...details } };
}
