import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { WorkerRegistry } from './worker.registry';

/** A paced chunk still queued this long after it was published is looked at (by then every local worker has started to consume). */
export const PACE_WAIT_GRACE_MS = 60_000;
/** How far back a new leader looks at first: the chunks another leader may have left unchecked. */
const FIRST_LOOK_BACK_MS = 3_600_000;
/** A site found with workers that pace is not asked about again for this long: such workers do not go away by themselves. */
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
  max_rate: number;
  chunks: number;
}

/**
 * Says early that a paced run cannot be scanned as it stands. Its chunks go only to scanner
 * workers that keep to the pace (`ScanRequestedV2Message`); at a site where no such worker is
 * online (`sitePaces`), they wait until their queue timeout (6 h by default), and only then fail. So the leader looks, a minute after they
 * were published, at the paced chunks still queued, and writes one `scan-waiting-for-pace`
 * communications event for each job whose site has no such worker, naming what to do.
 */
@Injectable()
export class PaceWatch {
  /** Chunks published before this were looked at (by this leader); undefined until its first look. */
  private checkedUpTo?: Date;
  private lookedAt = 0;
  /** Sites found with workers that pace, and when. */
  private readonly sitesWithPace = new Map<string, number>();

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
    private readonly workers: WorkerRegistry,
  ) {}

  /** Looks at the paced chunks published since the last look and at least a grace period ago; returns the events written. */
  async check(now: Date): Promise<number> {
    if (now.getTime() - this.lookedAt < LOOK_EVERY_MS) return 0;
    this.lookedAt = now.getTime();
    const upTo = new Date(now.getTime() - PACE_WAIT_GRACE_MS);
    const from = this.checkedUpTo ?? new Date(upTo.getTime() - FIRST_LOOK_BACK_MS);
    if (upTo <= from) return 0;
    const waiting: Waiting[] = await this.db.query(
      `SELECT c.job_id, j.tracker_id, j.device_id, min(c.published_at) AS published_at, c.request->>'site' AS site,
              min((c.request->>'maxRate')::float8) AS max_rate,
              (SELECT count(*) FROM scan_chunks w WHERE w.job_id = c.job_id AND w.status = 'queued')::int AS chunks
         FROM scan_chunks c JOIN scan_jobs j ON j.id = c.job_id
        WHERE c.status = 'queued' AND c.kind = 'scan' AND c.request->>'maxRate' IS NOT NULL AND c.request->>'site' IS NOT NULL AND c.published_at >= $1 AND c.published_at < $2
        GROUP BY c.job_id, j.tracker_id, j.device_id, c.request->>'site'
        ORDER BY min(c.published_at)
        LIMIT ${BATCH}`,
      [from, upTo],
    );
    let written = 0;
    for (const site of new Set(waiting.map((w) => w.site))) {
      const { paces, byPresence } = await this.sitePaces(site, now);
      if (paces) continue;
      for (const job of waiting.filter((w) => w.site === site)) written += await this.warn(job, now, byPresence);
    }
    // Only once all is said (a look that failed is made again). A full batch may have left some
    // out: the next look starts where this one stopped (what it finds again is said once all the same).
    const last = waiting.length === BATCH ? new Date(waiting[BATCH - 1].published_at) : upTo;
    this.checkedUpTo = last > from ? last : upTo;
    return written;
  }

  /**
   * Whether a scanner worker that paces is there for the site: one online, as the workers' presence
   * shows (`WorkerRegistry`); at a site where no scanner worker has ever said it is there (workers
   * from before presence), one that has ever consumed version 2 (`Bus.consumersOf`), which does
   * not tell a worker gone from one still there.
   */
  private async sitePaces(site: string, now: Date): Promise<{ paces: boolean; byPresence: boolean }> {
    const online = await this.workers.sitePaces(site);
    if (online !== undefined) return { paces: online, byPresence: true };
    const known = this.sitesWithPace.get(site);
    if (known !== undefined && now.getTime() - known < SITE_KNOWN_MS) return { paces: true, byPresence: false };
    const paces = (await this.bus.consumersOf(Messages.scanRequestedV2, site)).length > 0;
    if (paces) this.sitesWithPace.set(site, now.getTime());
    else this.sitesWithPace.delete(site);
    return { paces, byPresence: false };
  }

  /** The job's event, once (under the job's lock: a second look, or a new leader's, finds it written). */
  private async warn(job: Waiting, now: Date, byPresence: boolean): Promise<number> {
    const rows = await this.db.transaction(async (manager) => {
      const locked = await this.ledger.lockJob(manager, job.job_id);
      if (!locked || (await this.events.saidOfJob(manager, locked, 'scan-waiting-for-pace'))) return [];
      const chunks = job.chunks === 1 ? 'chunk waits' : `${job.chunks} chunks wait`;
      const reason = byPresence
        ? `no scanner worker that paces its scans is online at site "${job.site}" (those from before scan pacing never take a paced chunk, nor say they are there), ` +
          `so the run's ${chunks} for one until the queue timeout; start or upgrade the site's scanner workers, or clear the tracker's maxRate`
        : `no scanner worker that paces its scans has run at site "${job.site}": workers from before scan pacing never take a paced chunk, ` +
          `so the run's ${chunks} for one until the queue timeout; upgrade the site's scanner workers, or clear the tracker's maxRate`;
      const details = { what: 'scan-waiting-for-pace', site: job.site, maxRate: job.max_rate, chunks: job.chunks, reason };
      return this.events.insert(manager, [{ kind: 'communications', deviceId: job.device_id, trackerId: job.tracker_id, jobId: job.job_id, occurredAt: now, details }]);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ jobId: job.job_id, site: job.site, chunks: job.chunks }, 'a paced scan waits: no scanner worker at its site paces');
    return rows.length;
  }
}
