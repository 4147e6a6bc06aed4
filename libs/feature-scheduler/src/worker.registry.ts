import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { Messages, WorkerPresence } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, NewEvent } from '@portolan/platform';
import { judgePresence, NameBook, OtherProcess, RESTARTS_REPORTED_EVERY_MS, settleBook, WorkerStanding } from './presence.judge';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/** A worker stopped or silent this long is forgotten (its row deleted): a worker renamed, or its host, or one gone for good. */
const FORGET_AFTER_MS = 7 * 86_400_000;
/** How often the leader forgets workers long gone. */
const FORGET_EVERY_MS = 3_600_000;

/** A `workers` row as `judgePresence` and `settleBook` need it. */
interface StandingRow {
  status: WorkerStanding['status'];
  started_at: Date;
  started_seen_at: Date;
  last_seen_at: Date;
  other_started_at: Date | null;
  other_seen_at: Date | null;
  other_state: OtherProcess['state'] | null;
  restarts: number;
  restart_reported_at: Date | null;
}

const STANDING_COLUMNS = 'status, started_at, started_seen_at, last_seen_at, other_started_at, other_seen_at, other_state, restarts, restart_reported_at';
/** How often a replica checks that it runs: a check later than the offline threshold means it did not (nor hear) in between. */
const LOOK_EVERY_MS = 5_000;

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
 * stop). A name is followed one process at a time (`judgePresence`, as each replica hears it in
 * order): one replaced by another without having said it stopped and not heard again is a
 * `worker-restarted` event, and two processes speaking under one name a `worker-name-conflict`
 * (the leader's, `settleBooks`). `GET /workers` lists them.
 *
 * Silence is only the workers' if this replica heard all the while: until it has listened (and
 * written what it heard) for the whole threshold, after a failed write, after a look (every 5 s)
 * found it cut off from the bus, and after its looks were further apart than the threshold (the
 * scheduler stopped, the host asleep), it marks no one.
 */
@Injectable()
export class WorkerRegistry implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subscription?: ConsumerHandle;
  /** The messages heard of each worker name, written one after another in the order heard: a process's beat before its last word. */
  private readonly recording = new Map<string, Promise<void>>();
  private looking?: NodeJS.Timeout;
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
    // Whether or not this replica leads: one that leads later knows whether it heard all the while.
    this.looking = setInterval(() => void this.look(), LOOK_EVERY_MS).unref();
    this.subscription = await this.bus.subscribe(Messages.workerPresence, (envelope) => {
      const heardAt = new Date();
      const { worker, kind } = envelope.payload;
      const key = `${kind} ${worker}`;
      const recorded = (this.recording.get(key) ?? Promise.resolve())
        .then(() => this.record(envelope.payload, heardAt))
        .catch((error: unknown) => {
          this.listeningSince = Date.now();
          this.logger.warn({ worker, err: String(error) }, 'worker presence not recorded; no worker is taken for silent until presence is written again for the whole threshold');
        })
        .finally(() => {
          if (this.recording.get(key) === recorded) this.recording.delete(key);
        });
      this.recording.set(key, recorded);
    });
  }

  /** After the workers of this process said they stop (in their `onModuleDestroy`), before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.looking);
    await this.subscription?.stop();
    await Promise.all([...this.recording.values()]);
  }

  /** That this replica runs, and hears the bus (every 5 s): a look that finds it cut off from the bus (or later than the threshold) starts its listening again. */
  async look(now = new Date()): Promise<void> {
    const health = await this.bus.health().catch(() => ({ ok: false }));
    if (!health.ok) this.listeningSince = now.getTime();
    this.heardAllSince(now);
  }

  /** Writes what a worker said (heard at `now`), as `judgePresence` takes it: its row, with a `worker-online` event if it had been taken for gone; or the name's book. */
  async record(presence: WorkerPresence, now = new Date()): Promise<void> {
    const startedAt = new Date(presence.startedAt);
    const rows = await this.db.transaction(async (manager) => {
      // Locked first: of the scheduler replicas that all hear it, the first finds it offline (or another process), the others as the first wrote it.
      const [row]: StandingRow[] = await manager.query(`SELECT ${STANDING_COLUMNS} FROM workers WHERE kind = $1 AND name = $2 FOR UPDATE`, [presence.kind, presence.worker]);
      const was = row && standingOf(row);
      const heard = judgePresence(was, { startedAt, stopping: Boolean(presence.stopping) }, now, this.config.workerOfflineAfterMs);
      if (heard.take === 'nothing') return [];
      if (heard.take === 'book') {
        await writeBook(manager, presence, heard.book);
        return [];
      }
      await manager.query(
        `INSERT INTO workers (kind, name, site, version, features, concurrency, busy, started_at, first_seen_at, last_seen_at, status, started_seen_at,
                              other_started_at, other_seen_at, other_state, restarts, restart_reported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12, $13, $14, $15, $16)
         ON CONFLICT (kind, name) DO UPDATE SET site = EXCLUDED.site, version = EXCLUDED.version, features = EXCLUDED.features, concurrency = EXCLUDED.concurrency,
                busy = EXCLUDED.busy, started_at = EXCLUDED.started_at, last_seen_at = GREATEST(workers.last_seen_at, EXCLUDED.last_seen_at), status = EXCLUDED.status,
                started_seen_at = EXCLUDED.started_seen_at, other_started_at = EXCLUDED.other_started_at, other_seen_at = EXCLUDED.other_seen_at, other_state = EXCLUDED.other_state,
                restarts = EXCLUDED.restarts, restart_reported_at = EXCLUDED.restart_reported_at`,
        [
          presence.kind, presence.worker, presence.site, presence.version, JSON.stringify(presence.features), presence.concurrency, presence.busy, startedAt, now,
          presence.stopping ? 'stopped' : 'online', heard.process === 'same' && was ? was.startedSeenAt : now, ...bookValues(heard.book),
        ],
      );
      if (heard.say !== 'worker-online' || !was) return [];
      const silentMs = Math.max(0, now.getTime() - was.lastSeenAt.getTime());
      const label = `${presence.kind} worker "${presence.worker}" at ${siteLabel(presence.site)}`;
      const reason = heard.process === 'replaced' ? `${label} is back, as a process started at ${presence.startedAt}, after ${Math.round(silentMs / 1000)} s of silence` : `${label} speaks again after ${Math.round(silentMs / 1000)} s of silence`;
      const details = { silentMs, startedAt: presence.startedAt, ...(heard.process === 'replaced' && { previousStartedAt: was.startedAt.toISOString() }), reason };
      return this.events.insert(manager, [workerEvent(presence, await siteIdOf(manager, presence.site), now, 'worker-online', details)]);
    });
    await this.events.announce(rows);
  }

  /** The leader's: marks the workers silent past the threshold offline, with their events; forgets those long gone. */
  async markSilentOffline(now: Date): Promise<number> {
    const thresholdMs = this.config.workerOfflineAfterMs;
    if (now.getTime() - this.heardAllSince(now) < thresholdMs) return 0;
    const rows = await this.db.transaction(async (manager) => {
      const [gone]: [WorkerRow[], number] = await manager.query(
        // Not a name whose other process still speaks (a conflict): that one takes the name at its next beat.
        `UPDATE workers SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 AND (other_state IS DISTINCT FROM 'conflict' OR other_seen_at < $1) RETURNING kind, name, site, last_seen_at`,
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
   * The leader's: judges the names' books by time (`settleBook`): a process replaced while online
   * and not heard for the grace is a restart without a word, reported as `worker-restarted` (at
   * most once in 15 minutes a name, counting those between); one heard after the grace runs beside
   * the name's, a `worker-name-conflict`; a conflict no longer heard is over.
   */
  async settleBooks(now: Date): Promise<number> {
    const thresholdMs = this.config.workerOfflineAfterMs;
    const listeningSince = new Date(this.heardAllSince(now));
    const rows = await this.db.transaction(async (manager) => {
      // Only the books with something due; rows a replica is writing are looked at next tick.
      const due: (StandingRow & WorkerRow)[] = await manager.query(
        `SELECT kind, name, site, ${STANDING_COLUMNS} FROM workers
          WHERE other_state = 'replaced' OR (other_state IN ('conflict', 'stopped') AND other_seen_at <= $1) OR (restarts > 0 AND (restart_reported_at IS NULL OR restart_reported_at <= $2))
          ORDER BY kind, name FOR UPDATE SKIP LOCKED`,
        [new Date(now.getTime() - thresholdMs), new Date(now.getTime() - RESTARTS_REPORTED_EVERY_MS)],
      );
      const events: NewEvent[] = [];
      for (const row of due) {
        const standing = standingOf(row);
        const settled = settleBook(standing, now, listeningSince, thresholdMs);
        if (!settled) continue;
        const worker = { worker: row.name, kind: row.kind, site: row.site };
        await writeBook(manager, worker, settled.book);
        const label = `${row.kind} worker "${row.name}" at ${siteLabel(row.site)}`;
        const { conflict, gone, report } = settled;
        if (conflict) {
          this.logger.warn(worker, 'two worker processes share one name');
          const reason =
            `two ${row.kind} processes at ${siteLabel(row.site)} speak as "${row.name}", one started at ${standing.startedAt.toISOString()} and one at ${conflict.startedAt.toISOString()}: ` +
            `GET /workers follows the first, and the other's silence goes unnoticed while the first speaks; give each its own PORTOLAN_INSTANCE`;
          const details = { startedAt: standing.startedAt.toISOString(), otherStartedAt: conflict.startedAt.toISOString(), reason };
          events.push(workerEvent(worker, await siteIdOf(manager, row.site), now, 'worker-name-conflict', details));
        }
        if (report) {
          const count = report.restarts === 1 ? '1 such restart' : `${report.restarts} such restarts`;
          const reason =
            `${label} restarted without saying it stopped (it crashed, or was killed)` +
            (gone ? `: the process started at ${gone.startedAt.toISOString()}, last heard at ${gone.seenAt.toISOString()}, was replaced by one started at ${standing.startedAt.toISOString()}` : '') +
            (report.restarts > 1 || !gone ? `; ${count}${report.since ? ` since ${report.since.toISOString()}` : ''}` : '');
          const details = { startedAt: standing.startedAt.toISOString(), ...(gone && { previousStartedAt: gone.startedAt.toISOString() }), restarts: report.restarts, since: report.since?.toISOString() ?? null, reason };
          events.push(workerEvent(worker, await siteIdOf(manager, row.site), now, 'worker-restarted', details));
        }
      }
      return this.events.insert(manager, events);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ events: rows.length }, 'worker processes restarted without a word, or sharing a name');
    return rows.length;
  }

  /** Since when this replica has heard, and written, every presence message, as of a look at `now`: looks further apart than the threshold mean it did not run (or hear) in between. */
  private heardAllSince(now: Date): number {
    if (this.lastLook !== undefined && now.getTime() - this.lastLook > this.config.workerOfflineAfterMs) this.listeningSince = now.getTime();
    this.lastLook = Math.max(this.lastLook ?? 0, now.getTime());
    return this.listeningSince;
  }

  /**
   * Whether a worker of the kind (with the feature, if given) is online for the site: its own or
   * one serving every site; undefined when no worker of the kind there has said anything for a
   * week (none ever did, or all are forgotten: workers from before presence).
   */
  async online(kind: WorkerPresence['kind'], site: string, feature?: string): Promise<boolean | undefined> {
    const staff = await this.staffOf(kind, site, feature);
    return staff && staff.online > 0;
  }

  /** How many workers of the kind (with the feature) are online for the site, their slots and how many are busy, as they last said; undefined as for `online`. */
  async staffOf(kind: WorkerPresence['kind'], site: string, feature?: string): Promise<SiteStaff | undefined> {
    const [row]: ({ known: number } & SiteStaff)[] = await this.db.query(
      `SELECT count(*)::int AS known, count(*) FILTER (WHERE up)::int AS online, coalesce(sum(concurrency) FILTER (WHERE up), 0)::int AS slots, coalesce(sum(busy) FILTER (WHERE up), 0)::int AS busy
         FROM (SELECT concurrency, busy, status = 'online' AND ($3::text IS NULL OR features ? $3::text) AS up FROM workers WHERE kind = $1 AND (site = $2 OR site = '*')) w`,
      [kind, site, feature ?? null],
    );
    return row.known ? { online: row.online, slots: row.slots, busy: row.busy } : undefined;
  }
}

/** The workers of a kind online for a site (`WorkerRegistry.staffOf`). */
export interface SiteStaff {
  online: number;
  slots: number;
  busy: number;
}

function standingOf(row: StandingRow): WorkerStanding {
  const other = row.other_started_at && row.other_seen_at && row.other_state ? { startedAt: new Date(row.other_started_at), seenAt: new Date(row.other_seen_at), state: row.other_state } : null;
  return {
    status: row.status,
    startedAt: new Date(row.started_at),
    startedSeenAt: new Date(row.started_seen_at),
    lastSeenAt: new Date(row.last_seen_at),
    other,
    restarts: row.restarts,
    restartReportedAt: row.restart_reported_at && new Date(row.restart_reported_at),
  };
}

/** The book's columns, in `workers`' order: the other process, the restarts. */
function bookValues(book: NameBook): (Date | number | string | null)[] {
  return [book.other?.startedAt ?? null, book.other?.seenAt ?? null, book.other?.state ?? null, book.restarts, book.restartReportedAt];
}

async function writeBook(manager: EntityManager, worker: Pick<WorkerPresence, 'worker' | 'kind'>, book: NameBook): Promise<void> {
  await manager.query(
    `UPDATE workers SET other_started_at = $3, other_seen_at = $4, other_state = $5, restarts = $6, restart_reported_at = $7 WHERE kind = $1 AND name = $2`,
    [worker.kind, worker.worker, ...bookValues(book)],
  );
}

/** What a kind of worker is called, one or several (`paced`: those that keep to a scan pace). */
export function workerNoun(kind: WorkerPresence['kind'], count: number, paced = false): string {
  const [one, many] = kind === 'scanner' ? ['scanner worker', 'scanner workers'] : ['collector', 'collectors'];
  return count === 1 ? `${one}${paced ? ' that paces' : ''}` : `${many}${paced ? ' that pace' : ''}`;
}

/** "no collector is online at site "x"": as `staffWords` and the queue's warnings say it. */
export function noneOnline(kind: WorkerPresence['kind'], site: string, paced = false): string {
  return `no ${workerNoun(kind, 1, paced)} is online at ${siteLabel(site)}`;
}

/** The workers `staffOf` found, as a reason's words: "no collector is online at site "x"", "2 scanner workers that pace are online at every site, 2 of their 4 slots busy". */
export function staffWords(kind: WorkerPresence['kind'], site: string, staff: SiteStaff, paced = false): string {
  if (!staff.online) return noneOnline(kind, site, paced);
  const who = `${staff.online} ${workerNoun(kind, staff.online, paced)} ${staff.online === 1 ? 'is' : 'are'}`;
  return `${who} online at ${siteLabel(site)}, ${staff.busy} of ${staff.slots} slot${staff.slots === 1 ? '' : 's'} busy`;
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
