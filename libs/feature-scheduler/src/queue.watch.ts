import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages, WorkerFeatures } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { noneOnline, WorkerRegistry, workerNoun } from './worker.registry';

/** A chunk still queued this long after it was published is looked at (by then every local worker has started to consume). */
export const QUEUE_WAIT_GRACE_MS = 60_000;
/** How far back a new leader looks at first: the chunks another leader may have left unchecked. */
const FIRST_LOOK_BACK_MS = 3_600_000;
/** A site found with workers that pace, by its durable consumers, is not asked about again for this long: consumers do not go away by themselves. */
const SITE_KNOWN_MS = 5 * 60_000;
/** How often the leader looks (it need not every tick: the wait it reports is hours long). */
const LOOK_EVERY_MS = 30_000;
/** Jobs looked at per look, at most. */
const BATCH = 500;

interface Waiting {
  job_id: string;
  tracker_id: string;
  device_id: string;
  /** When its first chunk was published. */
  published_at: Date;
  site: string;
  kind: 'scan' | 'collect';
  /** The pace of a paced scan; null otherwise. */
  max_rate: number | null;
  /** Its chunks still queued, those held for their turn included. */
  chunks: number;
}

/** Whether a site has a worker for a kind of chunk, and how that was told: by the workers' presence, or by the durable consumers where no worker has said it is there. */
interface Served {
  readonly served: boolean;
  readonly byPresence: boolean;
}

/**
 * Says early that a run cannot be scanned as it stands, rather than at its chunks' queue timeout
 * (6 h by default). A minute after its chunks were published, the leader looks at those still
 * queued, and writes one communications event for each job whose site has no worker to take them:
 * - `scan-waiting-for-worker`: no scanner worker (or, for a collection, no collector) is online
 *   at the site, as the workers' presence shows (`WorkerRegistry`); or, where none has ever said
 *   it is there, none has ever consumed the site's chunks (`Bus.consumersOf`; a site whose workers
 *   all come from before presence is taken as served);
 * - `scan-waiting-for-pace`: the run is paced, and no worker that keeps to a pace is there: paced
 *   chunks go only to those (`ScanRequestedV2Message`).
 */
@Injectable()
export class QueueWatch {
  /** Chunks published before this were looked at (by this leader); undefined until its first look. */
  private checkedUpTo?: Date;
  private lookedAt = 0;
  /** Sites found with workers that pace, by their consumers, and when. */
  private readonly sitesWithPace = new Map<string, number>();

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
    private readonly workers: WorkerRegistry,
  ) {}

  /** Looks at the chunks published since the last look and at least a grace period ago; returns the events written. */
  async check(now: Date): Promise<number> {
    if (now.getTime() - this.lookedAt < LOOK_EVERY_MS) return 0;
    this.lookedAt = now.getTime();
    const upTo = new Date(now.getTime() - QUEUE_WAIT_GRACE_MS);
    const from = this.checkedUpTo ?? new Date(upTo.getTime() - FIRST_LOOK_BACK_MS);
    if (upTo <= from) return 0;
    const waiting: Waiting[] = await this.db.query(
      `SELECT c.job_id, j.tracker_id, j.device_id, min(c.published_at) AS published_at, c.request->>'site' AS site, c.kind,
              min((c.request->>'maxRate')::float8) AS max_rate,
              (SELECT count(*) FROM scan_chunks w WHERE w.job_id = c.job_id AND w.status = 'queued')::int AS chunks
         FROM scan_chunks c JOIN scan_jobs j ON j.id = c.job_id
        WHERE c.status = 'queued' AND c.request->>'site' IS NOT NULL AND c.published_at >= $1 AND c.published_at < $2
        GROUP BY c.job_id, j.tracker_id, j.device_id, c.kind, c.request->>'site'
        ORDER BY min(c.published_at)
        LIMIT ${BATCH}`,
      [from, upTo],
    );
    let written = 0;
    const answers = new Map<string, Promise<Served>>();
    for (const job of waiting) {
      const paced = job.kind === 'scan' && job.max_rate !== null;
      const key = `${job.kind} ${paced} ${job.site}`;
      if (!answers.has(key)) answers.set(key, paced ? this.sitePaces(job.site, now) : this.siteServed(job.kind, job.site));
      const { served, byPresence } = await answers.get(key)!;
      if (!served) written += await this.warn(job, paced ? 'scan-waiting-for-pace' : 'scan-waiting-for-worker', now, byPresence);
    }
    // Only once all is said (a look that failed is made again). A full batch may have left some
    // out: the next look starts where this one stopped (what it finds again is said once all the same).
    const last = waiting.length === BATCH ? new Date(waiting[BATCH - 1].published_at) : upTo;
    this.checkedUpTo = last > from ? last : upTo;
    return written;
  }

  /** Whether a scanner worker that paces is there for the site (by presence; else by its version-2 consumers, which do not tell a worker gone from one still there). */
  private async sitePaces(site: string, now: Date): Promise<Served> {
    const online = await this.workers.online('scanner', site, WorkerFeatures.scanPace);
    if (online !== undefined) return { served: online, byPresence: true };
    const known = this.sitesWithPace.get(site);
    if (known !== undefined && now.getTime() - known < SITE_KNOWN_MS) return { served: true, byPresence: false };
    const paces = (await this.bus.consumersOf(Messages.scanRequestedV2, site)).length > 0;
    if (paces) this.sitesWithPace.set(site, now.getTime());
    else this.sitesWithPace.delete(site);
    return { served: paces, byPresence: false };
  }

  /** Whether a worker of the kind is there for the site (by presence; else whether one has ever consumed its chunks). */
  private async siteServed(kind: Waiting['kind'], site: string): Promise<Served> {
    const online = await this.workers.online(kind === 'scan' ? 'scanner' : 'collector', site);
    if (online !== undefined) return { served: online, byPresence: true };
    const consumers = await this.bus.consumersOf(kind === 'scan' ? Messages.scanRequested : Messages.collectRequested, site);
    return { served: consumers.length > 0, byPresence: false };
  }

  /** The job's event, once (under the job's lock: a second look, or a new leader's, finds it written). */
  private async warn(job: Waiting, what: 'scan-waiting-for-pace' | 'scan-waiting-for-worker', now: Date, byPresence: boolean): Promise<number> {
    const rows = await this.db.transaction(async (manager) => {
      const locked = await this.ledger.lockJob(manager, job.job_id);
      if (!locked || (await this.events.saidOfJob(manager, locked, what))) return [];
      const reason = what === 'scan-waiting-for-pace' ? paceReason(job, byPresence) : workerReason(job, byPresence);
      const details = { what, site: job.site, ...(job.max_rate !== null && { maxRate: job.max_rate }), chunks: job.chunks, reason };
      return this.events.insert(manager, [{ kind: 'communications', deviceId: job.device_id, trackerId: job.tracker_id, jobId: job.job_id, occurredAt: now, details }]);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ jobId: job.job_id, site: job.site, chunks: job.chunks, what }, 'a run waits: no worker at its site can take it');
    return rows.length;
  }
}

function waits(job: Waiting): string {
  return job.chunks === 1 ? 'chunk waits' : `${job.chunks} chunks wait`;
}

function paceReason(job: Waiting, byPresence: boolean): string {
  return byPresence
    ? `no scanner worker that paces its scans is online at site "${job.site}" (those from before scan pacing never take a paced chunk, nor say they are there), ` +
        `so the run's ${waits(job)} for one until the queue timeout; start or upgrade the site's scanner workers, or clear the tracker's maxRate`
    : `no scanner worker that paces its scans has run at site "${job.site}": workers from before scan pacing never take a paced chunk, ` +
        `so the run's ${waits(job)} for one until the queue timeout; upgrade the site's scanner workers, or clear the tracker's maxRate`;
}

function workerReason(job: Waiting, byPresence: boolean): string {
  const [kind, setting] = job.kind === 'scan' ? (['scanner', 'SCANNER_SITE'] as const) : (['collector', 'COLLECTOR_SITE'] as const);
  const none = byPresence ? noneOnline(kind, job.site) : `no ${workerNoun(kind, 1)} has ever run at site "${job.site}"`;
  return `${none}, so the run's ${waits(job)} for one until the queue timeout; start one there (${setting}=${job.site}, or * for every site)`;
}
