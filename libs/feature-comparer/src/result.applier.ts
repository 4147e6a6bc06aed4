import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager, In } from 'typeorm';
import { Bus, ConsumerHandle, Outcome, Outcomes } from '@portolan/bus';
import { Messages, RunRequested, ScanCompleted, ScanFailed } from '@portolan/contracts';
import { Item, itemId, itemsFromHosts, PORT_ITEM_TYPE, portItem } from '@portolan/diff';
import { Logger } from '@portolan/logging';
import { BaselineCoverageRecord, EventEntity, FlappingRecord, ResultPartsRecord, ScanChunkEntity, ScanJobEntity, ScanJobStatus } from '@portolan/persistence';
import { BatchAnswer, BUS, claimMessage, claimMessages, DATA_SOURCE, EventRecorder, LOGGER, MicroBatcher, NewEvent, OutboxUpload, ScanJobLedger, storedUpload } from '@portolan/platform';
import { portSetContains, Protocol } from '@portolan/targets';
import { HostChange, planBaselineChanges } from './baseline.plan';
import { BaselineWriter, REPROBE_ATTEMPTS, requestReprobe, WriteContext } from './baseline.writer';
import { paceIgnoredEvent } from './scan-pace.check';

const RESULTS_CONSUMER = 'comparer-results';
const FAILURES_CONSUMER = 'comparer-failures';
/** Earlier agent results of a tracker a result applies before itself, in one transaction. */
const PREDECESSORS_PER_TRANSACTION = 50;
/** Deliveries of a result before it is given up on (a long spool takes a few, see applyInOrder). */
const RESULT_MAX_DELIVER = 60;
/** Most results applied together in one transaction, and such transactions at once. */
const BATCH_RESULTS = 32;
const BATCH_CONCURRENCY = 2;

interface Incoming {
  readonly messageId: string;
  readonly result: ScanCompleted;
  readonly deliveryCount: number;
}

type Baselines = Map<string, { host: string; observedAt: Date; coverage: BaselineCoverageRecord | null }>;

/**
 * The baseline comparer. A complete chunk result is applied in one transaction: the inbox row
 * (idempotency), the baseline and current items of every host that was up, the change events,
 * the chunk and job bookkeeping, and the scan's communications event when the job is finished.
 * A redelivered result finds its inbox row and changes nothing.
 *
 * Results that arrive together (up to BATCH_RESULTS, one per tracker) are applied in one
 * transaction with one statement per table for all of them; a result in parts, a second result
 * of a tracker in the batch, or an agent result with earlier ones still to apply goes on its
 * own, as does every result of a batch whose transaction failed (so one bad result never holds
 * back the others).
 */
@Injectable()
export class ResultApplier implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumers: ConsumerHandle[] = [];
  private readonly batcher = new MicroBatcher<Incoming, Outcome>((items) => this.applyBatch(items), { maxBatch: BATCH_RESULTS, concurrency: BATCH_CONCURRENCY, maxQueued: 10_000 });

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
    private readonly writer: BaselineWriter,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.consumers.push(
      await this.bus.consume(
        { message: Messages.scanCompleted, durable: RESULTS_CONSUMER, concurrency: BATCH_RESULTS * BATCH_CONCURRENCY, ackWaitMs: 60_000, maxDeliver: RESULT_MAX_DELIVER },
        (d) => this.applyCompleted(d.envelope.id, d.envelope.payload, d.deliveryCount),
      ),
      await this.bus.consume({ message: Messages.scanFailed, durable: FAILURES_CONSUMER, concurrency: 2, maxDeliver: RESULT_MAX_DELIVER }, (d) =>
        this.applyFailed(d.envelope.id, d.envelope.payload, d.deliveryCount),
      ),
    );
  }

  async onModuleDestroy(): Promise<void> {
    for (const consumer of this.consumers.splice(0)) await consumer.stop();
    await this.batcher.idle();
  }

  applyCompleted(messageId: string, result: ScanCompleted, deliveryCount = 1): Promise<Outcome> {
    return this.batcher.submit({ messageId, result, deliveryCount });
  }

  /** One batch of results: those that can go together in one transaction, then the others one by one. */
  private async applyBatch(items: readonly Incoming[]): Promise<BatchAnswer<Outcome>[]> {
    const answers = new Map<Incoming, BatchAnswer<Outcome>>();
    const together: Incoming[] = [];
    const alone: Incoming[] = [];
    const trackers = new Set<string>();
    for (const item of items) {
      if ((item.result.part?.count ?? 1) === 1 && !trackers.has(item.result.trackerId)) {
        trackers.add(item.result.trackerId);
        together.push(item);
      } else alone.push(item);
    }
    if (together.length > 1) {
      try {
        const { rows, waiting, reprobes } = await this.db.transaction((manager) => this.applyTogether(manager, together));
        for (const item of together) if (!waiting.has(item)) answers.set(item, Outcomes.ack());
        alone.unshift(...together.filter((item) => waiting.has(item)));
        await this.events.announce(rows);
        await this.publishReprobes(reprobes);
      } catch (error) {
        this.logger.warn({ results: together.length, err: String(error) }, 'a batch of results failed together; applying them one by one');
        alone.unshift(...together);
      }
    } else alone.unshift(...together);
    for (const item of alone) {
      answers.set(
        item,
        await this.applyInOrder(item.messageId, item.result.trackerId, RESULTS_CONSUMER, item.deliveryCount, (manager, reprobes) => this.applyResult(manager, item.result, reprobes)).catch((error: unknown) =>
          error instanceof Error ? error : new Error(String(error)),
        ),
      );
    }
    return items.map((item) => answers.get(item) as BatchAnswer<Outcome>);
  }

  /**
   * Applies single-part results of different trackers in the caller's transaction, a fixed
   * number of statements for all of them. Agent results with earlier ones of their tracker not
   * applied yet are left out (`waiting`: they go on their own, which applies those first).
   */
  private async applyTogether(manager: EntityManager, items: readonly Incoming[]): Promise<{ rows: EventEntity[]; waiting: Set<Incoming>; reprobes: RunRequested[] }> {
    await this.trackerSettings(manager, items.map((i) => i.result.trackerId)); // the trackers' locks, in id order, before anything else
    const behind: { id: string }[] = await manager.query(
      `SELECT DISTINCT mine.id FROM agent_uploads mine JOIN agent_uploads earlier ON earlier.tracker_id = mine.tracker_id AND earlier.seq < mine.seq AND earlier.applied_at IS NULL
        WHERE mine.id = ANY($1::uuid[]) AND mine.applied_at IS NULL`,
      [items.map((i) => i.messageId)],
    );
    const behindIds = new Set(behind.map((b) => b.id));
    const waiting = new Set(items.filter((i) => behindIds.has(i.messageId)));
    const claimed = await claimMessages(manager, items.filter((i) => !waiting.has(i)).map((i) => i.messageId), RESULTS_CONSUMER);
    if (!claimed.size) return { rows: [], waiting, reprobes: [] };
    await manager.query('UPDATE agent_uploads SET applied_at = now() WHERE id = ANY($1::uuid[]) AND applied_at IS NULL', [[...claimed]]);
    const reprobes: RunRequested[] = [];
    const rows = await this.applyResults(
      manager,
      items.filter((i) => claimed.has(i.messageId)).map((i) => i.result),
      reprobes,
    );
    return { rows, waiting, reprobes };
  }

  async applyFailed(messageId: string, failure: ScanFailed, deliveryCount = 1): Promise<Outcome> {
    return this.applyInOrder(messageId, failure.trackerId, FAILURES_CONSUMER, deliveryCount, (manager, reprobes) => this.applyFailure(manager, failure, reprobes));
  }

  /**
   * One transaction per message, under the tracker's row lock. Agent results of one tracker
   * apply in the order the hub accepted them (an agent uploads its spool oldest first): a
   * result whose predecessors have not been applied yet applies them first, from the payloads
   * their upload rows keep, at most PREDECESSORS_PER_TRANSACTION at a time (then it is
   * delivered again at once to go on). A message applied already (the inbox has it) changes
   * nothing. Scanner results have no upload row and no predecessors.
   */
  private async applyInOrder(
    messageId: string,
    trackerId: string,
    consumer: string,
    deliveryCount: number,
    apply: (manager: EntityManager, reprobes: RunRequested[]) => Promise<EventEntity[]>,
  ): Promise<Outcome> {
    const reprobes: RunRequested[] = [];
    const { rows, more } = await this.db.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM trackers WHERE id = $1 FOR UPDATE', [trackerId]);
      const earlier = await this.unappliedPredecessors(manager, messageId);
      const out: EventEntity[] = [];
      for (const upload of earlier.slice(0, PREDECESSORS_PER_TRANSACTION)) out.push(...(await this.applyStored(manager, upload, reprobes)));
      if (earlier.length > PREDECESSORS_PER_TRANSACTION) return { rows: out, more: true };
      if (await claimMessage(manager, messageId, consumer)) {
        await markUploadApplied(manager, messageId);
        out.push(...(await apply(manager, reprobes)));
      }
      return { rows: out, more: false };
    });
    await this.events.announce(rows);
    await this.publishReprobes(reprobes);
    if (more) {
      this.logger.info({ messageId, trackerId }, 'applied earlier agent results of the tracker first; more to go');
      return Outcomes.nak(Math.min(1_000, 10 * deliveryCount));
    }
    return Outcomes.ack();
  }

  /** Earlier agent uploads of the same tracker not applied yet, oldest first (none for a scanner result). */
  private async unappliedPredecessors(manager: EntityManager, messageId: string): Promise<OutboxUpload[]> {
    type Row = { id: string; kind: 'completed' | 'failed'; job_id: string; body_gzip: Buffer | null; acceptance: Record<string, unknown> | null; payload: Record<string, unknown> | null; payload_gzip: Buffer | null };
    const rows: Row[] = await manager.query(
      `SELECT earlier.id, earlier.kind, earlier.job_id, earlier.body_gzip, earlier.acceptance, earlier.payload, earlier.payload_gzip
         FROM agent_uploads mine JOIN agent_uploads earlier ON earlier.tracker_id = mine.tracker_id AND earlier.seq < mine.seq AND earlier.applied_at IS NULL
        WHERE mine.id = $1 AND mine.applied_at IS NULL
        ORDER BY earlier.seq LIMIT ${PREDECESSORS_PER_TRANSACTION + 1}`,
      [messageId],
    );
    return rows.map((r) => storedUpload({ id: r.id, kind: r.kind, jobId: r.job_id, bodyGzip: r.body_gzip, acceptance: r.acceptance, payload: r.payload, payloadGzip: r.payload_gzip }));
  }

  /** Applies an upload from its stored payload, as its own message would (its later delivery then changes nothing). */
  private async applyStored(manager: EntityManager, upload: OutboxUpload, reprobes: RunRequested[]): Promise<EventEntity[]> {
    if (!(await claimMessage(manager, upload.id, upload.kind === 'completed' ? RESULTS_CONSUMER : FAILURES_CONSUMER))) return [];
    await markUploadApplied(manager, upload.id);
    return upload.kind === 'completed' ? this.applyResult(manager, upload.payload, reprobes) : this.applyFailure(manager, upload.payload, reprobes);
  }

  private applyResult(manager: EntityManager, result: ScanCompleted, reprobes: RunRequested[]): Promise<EventEntity[]> {
    return this.applyResults(manager, [result], reprobes);
  }

  /**
   * Applies claimed results (of different trackers, or one result) in the caller's transaction,
   * one statement per table for all of them: their trackers, jobs and chunks, the baselines and
   * current items of their hosts that were up, the writes, the chunks settled (a result in parts
   * once its last part is in) and the jobs finished.
   */
  private async applyResults(manager: EntityManager, results: readonly ScanCompleted[], reprobes: RunRequested[]): Promise<EventEntity[]> {
    if (!results.length) return [];
    const settings = await this.trackerSettings(manager, results.map((r) => r.trackerId));
    const jobs = await this.ledger.lockJobs(manager, results.map((r) => r.jobId));
    const chunks = new Map((await manager.findBy(ScanChunkEntity, { id: In(results.map((r) => r.chunkId)) })).map((c) => [c.id, c]));
    const applicable = results.filter((r) => this.applicable(r, settings.get(r.trackerId), jobs.get(r.jobId), chunks.get(r.chunkId)));
    const now = new Date();
    const upHosts = new Map(applicable.map((r) => [r, r.hosts.filter((h) => h.state === 'up').map((h) => h.address)]));
    const keys = applicable.flatMap((r) => (upHosts.get(r) ?? []).map((host) => ({ trackerId: r.trackerId, host })));
    const baselines = await this.loadBaselines(manager, keys);
    const current = await this.loadCurrent(manager, keys);
    const writes = applicable.map((r) =>
      this.prepare(r, jobs.get(r.jobId) as ScanJobEntity, settings.get(r.trackerId) as TrackerSettingsRow, upHosts.get(r) ?? [], baselines.get(r.trackerId) ?? new Map(), current.get(r.trackerId) ?? [], now),
    );
    const written = await this.writer.writeMany(manager, writes);
    reprobes.push(...written.reprobes);
    const settles: Parameters<ScanJobLedger['settleChunks']>[1][number][] = [];
    const unpaced: NewEvent[] = [];
    const finishedAs = new Map<string, ScanJobStatus>();
    for (const r of applicable) {
      const job = jobs.get(r.jobId) as ScanJobEntity;
      const chunk = chunks.get(r.chunkId) as ScanChunkEntity;
      const hosts = upHosts.get(r) ?? [];
      const hostsUp = await this.countPart(manager, chunk, r, hosts.length);
      if (hostsUp === undefined) continue; // more parts of this result to come
      const reopened = await this.ledger.reopenTimedOut(manager, job, chunk);
      if (reopened) {
        if (reopened.finishedAs) finishedAs.set(job.id, reopened.finishedAs);
        this.logger.warn({ jobId: job.id, chunkId: chunk.id, worker: r.worker }, 'the result of a chunk failed by its deadline came after all; applied');
      }
      settles.push({ job, chunk, outcome: chunkOutcome(r, hostsUp) });
      const ignored = paceIgnoredEvent(chunk, r, job.chunkCount, now);
      if (ignored) {
        this.logger.warn({ jobId: job.id, chunkId: chunk.id, ...ignored.details }, "a worker scanned without the tracker's pace");
        // applyResults takes one result of a tracker at a time, so a job's are never in one call together.
        if (!(await this.events.saidOfJob(manager, job, 'scan-pace-ignored', { worker: r.worker }))) unpaced.push(ignored);
      }
      // Only a re-probe of one chunk knows here which of its hosts it missed: one in chunks
      // would ask again for the hosts of its other chunks. Those wait for the next full scan.
      if (job.chunkCount === 1) reprobes.push(...(await this.reprobeAgain(manager, job, hosts)));
    }
    await this.ledger.settleChunks(manager, settles);
    const finished = await this.ledger.finishComplete(manager, [...new Set(settles.map((x) => x.job))], now, finishedAs);
    return [...written.events, ...(unpaced.length ? await this.events.insert(manager, unpaced) : []), ...finished];
  }

  /**
   * Whether a result can be applied: its tracker, job and chunk exist and the chunk is open, or
   * was failed by a timeout that the result now takes back (otherwise said in the log).
   */
  private applicable(result: ScanCompleted, settings: TrackerSettingsRow | undefined, job: ScanJobEntity | undefined, chunk: ScanChunkEntity | undefined): boolean {
    if (!settings || !job || !chunk) {
      this.logger.warn({ jobId: result.jobId, chunkId: result.chunkId }, 'result for an unknown tracker, job or chunk; ignored');
      return false;
    }
    if (this.ledger.reopenable(job, chunk)) return true;
    if (chunk.status === 'done' || chunk.status === 'failed') {
      this.logger.warn({ jobId: job.id, chunkId: chunk.id, status: chunk.status }, 'result for a chunk already settled; ignored');
      return false;
    }
    return true;
  }

  /** Pure but for the log: what a result does to its hosts' baselines, and what the writer needs to write it. */
  private prepare(result: ScanCompleted, job: ScanJobEntity, settings: TrackerSettingsRow, upHosts: string[], baselines: Baselines, current: Item[], now: Date): { ctx: WriteContext; changes: HostChange[] } {
    const observedAt = new Date(result.startedAt);
    const { observed, unknownUdp } = observedItems(result, settings.udp_open_filtered);
    // Ports inside the scanned ranges; other item types only when the result read them in full.
    // UDP ports nmap could not tell open from filtered are, under the "ignore" policy, not looked at.
    const coveredTypes = new Set(result.coverage.itemTypes ?? []);
    const inRange = (item: Item) => item.type === PORT_ITEM_TYPE && portSetContains(result.coverage.ports, item.attributes['protocol'] as Protocol, Number(item.attributes['port']));
    // A re-probe compares only the (host, port) pairs it was asked about, not every port it scanned on every host.
    const asked = job.trigger === 'reprobe' && job.probe?.items ? new Set(job.probe.items) : undefined;
    const inCoverage = (item: Item) =>
      item.type === PORT_ITEM_TYPE ? inRange(item) && !unknownUdp.has(itemId(item)) && (!asked || asked.has(`${item.host} ${item.key}`)) : !asked && coveredTypes.has(item.type);
    // What each host's baseline was made over, as a test built once per host (asked per item). A
    // re-probe looks at a few of the baseline's ports: it moves no coverage (nothing is baselined
    // or dropped for being outside it), it only compares what it looked at.
    const isReprobe = job.trigger === 'reprobe';
    const covers = new Map(isReprobe ? [] : [...baselines].map(([host, b]) => [host, coverageTest(b.coverage)]));
    const plan = planBaselineChanges({
      upHosts,
      baselines,
      current,
      observed,
      inCoverage,
      baselineCovers: (host) => covers.get(host),
      isPort: (item) => item.type === PORT_ITEM_TYPE,
      inRange,
      observedAt,
      // An agent's results are applied in the order the hub accepted them (their predecessors first).
      ordered: job.agentId !== null,
    });
    if (plan.staleHosts.length) this.logger.info({ jobId: result.jobId, hosts: plan.staleHosts.length }, 'hosts skipped: a newer observation was already applied');
    const ctx: WriteContext = {
      trackerId: result.trackerId,
      deviceId: result.deviceId,
      jobId: result.jobId,
      observedAt,
      now,
      sendBaselineEvents: settings.device_send_baseline_events ?? settings.send_baseline_events,
      confirmations: settings.confirmations,
      flapping: settings.flapping,
      reprobe: settings.reprobe,
      isReprobe,
      // Item types stay covered once read in full: a later partial read does not un-cover them.
      coverageFor: (host) => ({ ports: result.coverage.ports, itemTypes: [...new Set([...(baselines.get(host)?.coverage?.itemTypes ?? []), ...coveredTypes])].sort() }),
      compared: (item) => {
        const baselineCovers = covers.get(item.host);
        return inCoverage(item) && (!baselineCovers || baselineCovers(item));
      },
    };
    return { ctx, changes: plan.changes };
  }

  /** The trackers' comparison settings, their rows locked (in id order). */
  private async trackerSettings(manager: EntityManager, trackerIds: readonly string[]): Promise<Map<string, TrackerSettingsRow>> {
    const rows: (TrackerSettingsRow & { id: string })[] = await manager.query(
      `SELECT t.id, t.send_baseline_events, d.send_baseline_events AS device_send_baseline_events, t.confirmations, t.flapping, t.udp_open_filtered, t.reprobe
         FROM trackers t JOIN devices d ON d.id = t.device_id WHERE t.id = ANY($1::uuid[]) ORDER BY t.id FOR UPDATE OF t`,
      [[...new Set(trackerIds)]],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  private async applyFailure(manager: EntityManager, failure: ScanFailed, reprobes: RunRequested[]): Promise<EventEntity[]> {
    const job = await this.ledger.lockJob(manager, failure.jobId);
    const chunk = await manager.findOneBy(ScanChunkEntity, { id: failure.chunkId });
    if (!job || !chunk) return [];
    const settled = await this.ledger.settleChunk(manager, job, chunk, {
      worker: failure.worker,
      startedAt: failure.startedAt ? new Date(failure.startedAt) : undefined,
      finishedAt: new Date(failure.failedAt),
      error: failure.error.message,
    });
    if (!settled) return [];
    const events = await this.ledger.finishIfComplete(manager, job, new Date());
    // A re-probe that could not run is asked for again (a few times); its changes wait meanwhile.
    if (job.status === 'failed' && job.chunkCount === 1) reprobes.push(...(await this.reprobeAgain(manager, job, [])));
    return events;
  }


  /**
   * Records one part of a multi-part result. Returns the chunk's hosts-up count once every part
   * of the scan attempt has arrived, undefined while parts are missing. A part of a newer
   * attempt (the chunk was scanned again after a worker died) restarts the count; a part of an
   * older attempt does not count (its hosts were still applied, as any observation is).
   */
  private async countPart(manager: EntityManager, chunk: ScanChunkEntity, result: ScanCompleted, hostsUp: number): Promise<number | undefined> {
    const part = result.part ?? { index: 0, count: 1 };
    if (part.count === 1) return hostsUp;
    const scanId = result.scanId ?? result.chunkId;
    const recorded = chunk.resultParts;
    if (recorded && recorded.scanId !== scanId && Date.parse(recorded.startedAt) > Date.parse(result.startedAt)) return undefined; // an older attempt
    const state: ResultPartsRecord =
      recorded?.scanId === scanId ? recorded : { scanId, startedAt: result.startedAt, count: part.count, seen: [], hostsUp: 0 };
    if (!state.seen.includes(part.index)) {
      state.seen.push(part.index);
      state.hostsUp += hostsUp;
    }
    if (state.seen.length >= state.count) return state.hostsUp;
    // A chunk failed by its timeout stays failed until its last part reopens it (its job still counts it failed).
    await manager.update(ScanChunkEntity, chunk.id, { resultParts: state, ...(chunk.status !== 'failed' && { status: 'running' as const }) });
    return undefined;
  }

  /**
   * A re-probe whose hosts were down (or that failed: no host up) asks again about their
   * changes, up to REPROBE_ATTEMPTS in all; after that they wait for the next full scan.
   */
  private async reprobeAgain(manager: EntityManager, job: ScanJobEntity, upHosts: readonly string[]): Promise<RunRequested[]> {
    if (job.trigger !== 'reprobe' || !job.probe?.items) return [];
    const up = new Set(upHosts);
    const missed = job.probe.items.map((item) => ({ host: item.slice(0, item.indexOf(' ')), itemKey: item.slice(item.indexOf(' ') + 1) })).filter((item) => !up.has(item.host));
    if (!missed.length) return [];
    const attempt = (job.probe.attempt ?? 1) + 1;
    if (attempt > REPROBE_ATTEMPTS) {
      this.logger.warn({ jobId: job.id, trackerId: job.trackerId, items: missed.length }, 're-probes could not reach the host; the changes wait for the next full scan');
      return [];
    }
    return [await requestReprobe(manager, { trackerId: job.trackerId, deviceId: job.deviceId }, missed, attempt)];
  }

  /** Announces the re-probes asked for (their jobs are committed; one whose announcement is lost is asked for again by the scheduler). */
  private async publishReprobes(reprobes: readonly RunRequested[]): Promise<void> {
    for (const request of reprobes) {
      await this.bus
        .publish(Messages.runRequested, request, { messageId: request.jobId, correlationId: request.jobId })
        .catch((error: unknown) => this.logger.warn({ jobId: request.jobId, err: String(error) }, 'could not ask for a re-probe; the scheduler asks again'));
    }
    if (reprobes.length) this.logger.info({ reprobes: reprobes.length }, 'changed ports re-probed before they are reported');
  }

  /** The baselines of the (tracker, host) pairs, per tracker and host. */
  private async loadBaselines(manager: EntityManager, keys: readonly { trackerId: string; host: string }[]): Promise<Map<string, Baselines>> {
    const out = new Map<string, Baselines>();
    if (!keys.length) return out;
    const rows: { tracker_id: string; host: string; observed_at: Date; coverage: BaselineCoverageRecord | null }[] = await manager.query(
      `SELECT b.tracker_id, b.host, b.observed_at, b.coverage FROM baselines b JOIN unnest($1::uuid[], $2::text[]) AS k(tracker_id, host) ON b.tracker_id = k.tracker_id AND b.host = k.host`,
      [keys.map((k) => k.trackerId), keys.map((k) => k.host)],
    );
    for (const r of rows) {
      const perHost = out.get(r.tracker_id) ?? new Map();
      perHost.set(r.host, { host: r.host, observedAt: new Date(r.observed_at), coverage: r.coverage });
      out.set(r.tracker_id, perHost);
    }
    return out;
  }

  /** The current items of the (tracker, host) pairs, per tracker. */
  private async loadCurrent(manager: EntityManager, keys: readonly { trackerId: string; host: string }[]): Promise<Map<string, Item[]>> {
    const out = new Map<string, Item[]>();
    if (!keys.length) return out;
    const rows: { tracker_id: string; host: string; item_type: string; item_key: string; attributes: Item['attributes'] }[] = await manager.query(
      `SELECT c.tracker_id, c.host, c.item_type, c.item_key, c.attributes FROM current_items c JOIN unnest($1::uuid[], $2::text[]) AS k(tracker_id, host) ON c.tracker_id = k.tracker_id AND c.host = k.host`,
      [keys.map((k) => k.trackerId), keys.map((k) => k.host)],
    );
    for (const r of rows) {
      const items = out.get(r.tracker_id) ?? [];
      items.push({ type: r.item_type, host: r.host, key: r.item_key, attributes: r.attributes });
      out.set(r.tracker_id, items);
    }
    return out;
  }
}

async function markUploadApplied(manager: EntityManager, messageId: string): Promise<void> {
  await manager.query('UPDATE agent_uploads SET applied_at = now() WHERE id = $1 AND applied_at IS NULL', [messageId]);
}


/** What a settled chunk records of the result that completed it. */
function chunkOutcome(result: ScanCompleted, hostsUp: number) {
  return { worker: result.worker, engine: result.engine, engineVersion: result.engineVersion, args: result.args, startedAt: new Date(result.startedAt), finishedAt: new Date(result.finishedAt), hostsUp };
}

interface TrackerSettingsRow {
  send_baseline_events: boolean;
  device_send_baseline_events: boolean | null;
  confirmations: number;
  flapping: FlappingRecord | null;
  udp_open_filtered: 'open' | 'closed' | 'ignore';
  reprobe: boolean;
}

/**
 * The items a result observed. UDP ports nmap reports `open|filtered` count, by the tracker's
 * policy, as open (items), as closed (absent: the default), or as unknown (left out of the
 * comparison, so they are neither added nor removed).
 */
function observedItems(result: ScanCompleted, policy: TrackerSettingsRow['udp_open_filtered']): { observed: Item[]; unknownUdp: Set<string> } {
  const observed = itemsFromHosts(result.hosts);
  const unknownUdp = new Set<string>();
  if (policy === 'closed') return { observed, unknownUdp };
  for (const host of result.hosts) {
    if (host.state !== 'up') continue;
    for (const port of host.ports) {
      if (port.protocol !== 'udp' || port.state !== 'open|filtered') continue;
      const item = portItem(host.address, port);
      if (policy === 'open') observed.push(item);
      else unknownUdp.add(itemId(item));
    }
  }
  return { observed, unknownUdp };
}

/** Whether a baseline made over `coverage` looked at an item; undefined when that is not recorded. */
function coverageTest(coverage: BaselineCoverageRecord | null): ((item: Item) => boolean) | undefined {
  if (!coverage) return undefined;
  const types = new Set(coverage.itemTypes);
  return (item) => (item.type === PORT_ITEM_TYPE ? portSetContains(coverage.ports, item.attributes['protocol'] as Protocol, Number(item.attributes['port'])) : types.has(item.type));
}
