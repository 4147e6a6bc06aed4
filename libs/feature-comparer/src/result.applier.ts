import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Bus, ConsumerHandle, Outcome, Outcomes } from '@portolan/bus';
import { Messages, ScanCompleted, ScanFailed } from '@portolan/contracts';
import { Item, itemId, itemsFromHosts, PORT_ITEM_TYPE, portItem } from '@portolan/diff';
import { Logger } from '@portolan/logging';
import { BaselineCoverageRecord, EventEntity, FlappingRecord, ResultPartsRecord, ScanChunkEntity } from '@portolan/persistence';
import { BUS, claimMessage, DATA_SOURCE, EventRecorder, LOGGER, OutboxUpload, ScanJobLedger, storedUpload } from '@portolan/platform';
import { portSetContains, Protocol } from '@portolan/targets';
import { planBaselineChanges } from './baseline.plan';
import { BaselineWriter } from './baseline.writer';

const RESULTS_CONSUMER = 'comparer-results';
const FAILURES_CONSUMER = 'comparer-failures';
/** Earlier agent results of a tracker a result applies before itself, in one transaction. */
const PREDECESSORS_PER_TRANSACTION = 50;
/** Deliveries of a result before it is given up on (a long spool takes a few, see applyInOrder). */
const RESULT_MAX_DELIVER = 60;

/**
 * The baseline comparer. Each complete chunk result is applied in one transaction: the inbox
 * row (idempotency), the baseline and current items of every host that was up, the change
 * events, the chunk and job bookkeeping, and the scan's communications event when the job is
 * finished. A redelivered result finds its inbox row and changes nothing.
 */
@Injectable()
export class ResultApplier implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly consumers: ConsumerHandle[] = [];

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
        { message: Messages.scanCompleted, durable: RESULTS_CONSUMER, concurrency: 4, ackWaitMs: 60_000, maxDeliver: RESULT_MAX_DELIVER },
        (d) => this.applyCompleted(d.envelope.id, d.envelope.payload, d.deliveryCount),
      ),
      await this.bus.consume({ message: Messages.scanFailed, durable: FAILURES_CONSUMER, concurrency: 2, maxDeliver: RESULT_MAX_DELIVER }, (d) =>
        this.applyFailed(d.envelope.id, d.envelope.payload, d.deliveryCount),
      ),
    );
  }

  async onModuleDestroy(): Promise<void> {
    for (const consumer of this.consumers.splice(0)) await consumer.stop();
  }

  async applyCompleted(messageId: string, result: ScanCompleted, deliveryCount = 1): Promise<Outcome> {
    return this.applyInOrder(messageId, result.trackerId, RESULTS_CONSUMER, deliveryCount, (manager) => this.applyResult(manager, result));
  }

  async applyFailed(messageId: string, failure: ScanFailed, deliveryCount = 1): Promise<Outcome> {
    return this.applyInOrder(messageId, failure.trackerId, FAILURES_CONSUMER, deliveryCount, (manager) => this.applyFailure(manager, failure));
  }

  /**
   * One transaction per message, under the tracker's row lock. Agent results of one tracker
   * apply in the order the hub accepted them (an agent uploads its spool oldest first): a
   * result whose predecessors have not been applied yet applies them first, from the payloads
   * their upload rows keep, at most PREDECESSORS_PER_TRANSACTION at a time (then it is
   * delivered again at once to go on). A message applied already (the inbox has it) changes
   * nothing. Scanner results have no upload row and no predecessors.
   */
  private async applyInOrder(messageId: string, trackerId: string, consumer: string, deliveryCount: number, apply: (manager: EntityManager) => Promise<EventEntity[]>): Promise<Outcome> {
    const { rows, more } = await this.db.transaction(async (manager) => {
      await manager.query('SELECT 1 FROM trackers WHERE id = $1 FOR UPDATE', [trackerId]);
      const earlier = await this.unappliedPredecessors(manager, messageId);
      const out: EventEntity[] = [];
      for (const upload of earlier.slice(0, PREDECESSORS_PER_TRANSACTION)) out.push(...(await this.applyStored(manager, upload)));
      if (earlier.length > PREDECESSORS_PER_TRANSACTION) return { rows: out, more: true };
      if (await claimMessage(manager, messageId, consumer)) {
        await markUploadApplied(manager, messageId);
        out.push(...(await apply(manager)));
      }
      return { rows: out, more: false };
    });
    await this.events.announce(rows);
    if (more) {
      this.logger.info({ messageId, trackerId }, 'applied earlier agent results of the tracker first; more to go');
      return Outcomes.nak(Math.min(1_000, 10 * deliveryCount));
    }
    return Outcomes.ack();
  }

  /** Earlier agent uploads of the same tracker not applied yet, oldest first (none for a scanner result). */
  private async unappliedPredecessors(manager: EntityManager, messageId: string): Promise<OutboxUpload[]> {
    const rows: { id: string; kind: 'completed' | 'failed'; job_id: string; payload: Record<string, unknown> | null; payload_gzip: Buffer | null }[] = await manager.query(
      `SELECT earlier.id, earlier.kind, earlier.job_id, earlier.payload, earlier.payload_gzip
         FROM agent_uploads mine JOIN agent_uploads earlier ON earlier.tracker_id = mine.tracker_id AND earlier.seq < mine.seq AND earlier.applied_at IS NULL
        WHERE mine.id = $1 AND mine.applied_at IS NULL
        ORDER BY earlier.seq LIMIT ${PREDECESSORS_PER_TRANSACTION + 1}`,
      [messageId],
    );
    return rows.map((r) => storedUpload({ id: r.id, kind: r.kind, jobId: r.job_id, payload: r.payload, payloadGzip: r.payload_gzip }));
  }

  /** Applies an upload from its stored payload, as its own message would (its later delivery then changes nothing). */
  private async applyStored(manager: EntityManager, upload: OutboxUpload): Promise<EventEntity[]> {
    if (!(await claimMessage(manager, upload.id, upload.kind === 'completed' ? RESULTS_CONSUMER : FAILURES_CONSUMER))) return [];
    await markUploadApplied(manager, upload.id);
    return upload.kind === 'completed' ? this.applyResult(manager, upload.payload) : this.applyFailure(manager, upload.payload);
  }

  private async applyResult(manager: EntityManager, result: ScanCompleted): Promise<EventEntity[]> {
    const tracker: TrackerSettingsRow[] = await manager.query(
      `SELECT t.send_baseline_events, d.send_baseline_events AS device_send_baseline_events, t.confirmations, t.flapping, t.udp_open_filtered
         FROM trackers t JOIN devices d ON d.id = t.device_id WHERE t.id = $1 FOR UPDATE OF t`,
      [result.trackerId],
    );
    const job = await this.ledger.lockJob(manager, result.jobId);
    const chunk = await manager.findOneBy(ScanChunkEntity, { id: result.chunkId });
    if (!tracker.length || !job || !chunk) {
      this.logger.warn({ jobId: result.jobId, chunkId: result.chunkId }, 'result for an unknown tracker, job or chunk; ignored');
      return [];
    }
    if (chunk.status === 'done' || chunk.status === 'failed') {
      this.logger.warn({ jobId: job.id, chunkId: chunk.id, status: chunk.status }, 'result for a chunk already settled; ignored');
      return [];
    }
    const settings = tracker[0];
    const observedAt = new Date(result.startedAt);
    const upHosts = result.hosts.filter((h) => h.state === 'up').map((h) => h.address);
    const { observed, unknownUdp } = observedItems(result, settings.udp_open_filtered);
    // Ports inside the scanned ranges; other item types only when the result read them in full.
    // UDP ports nmap could not tell open from filtered are, under the "ignore" policy, not looked at.
    const coveredTypes = new Set(result.coverage.itemTypes ?? []);
    const inRange = (item: Item) => item.type === PORT_ITEM_TYPE && portSetContains(result.coverage.ports, item.attributes['protocol'] as Protocol, Number(item.attributes['port']));
    const inCoverage = (item: Item) => (item.type === PORT_ITEM_TYPE ? inRange(item) && !unknownUdp.has(itemId(item)) : coveredTypes.has(item.type));
    const baselines = await this.loadBaselines(manager, result.trackerId, upHosts);
    // What each host's baseline was made over, as a test built once per host (asked per item).
    const covers = new Map([...baselines].map(([host, b]) => [host, coverageTest(b.coverage)]));
    const plan = planBaselineChanges({
      upHosts,
      baselines,
      current: await this.loadCurrent(manager, result.trackerId, upHosts),
      observed,
      inCoverage,
      baselineCovers: (host) => covers.get(host),
      isPort: (item) => item.type === PORT_ITEM_TYPE,
      inRange,
      observedAt,
    });
    if (plan.staleHosts.length) this.logger.info({ jobId: job.id, hosts: plan.staleHosts.length }, 'hosts skipped: a newer observation was already applied');
    const now = new Date();
    const events = await this.writer.write(
      manager,
      {
        trackerId: result.trackerId,
        deviceId: result.deviceId,
        jobId: result.jobId,
        observedAt,
        now,
        sendBaselineEvents: settings.device_send_baseline_events ?? settings.send_baseline_events,
        confirmations: settings.confirmations,
        flapping: settings.flapping,
        // Item types stay covered once read in full: a later partial read does not un-cover them.
        coverageFor: (host) => ({ ports: result.coverage.ports, itemTypes: [...new Set([...(baselines.get(host)?.coverage?.itemTypes ?? []), ...coveredTypes])].sort() }),
        compared: (item) => {
          const baselineCovers = covers.get(item.host);
          return inCoverage(item) && (!baselineCovers || baselineCovers(item));
        },
      },
      plan.changes,
    );
    const hostsUp = await this.countPart(manager, chunk, result, upHosts.length);
    if (hostsUp === undefined) return events; // more parts of this result to come
    await this.ledger.settleChunk(manager, job, chunk, {
      worker: result.worker,
      engine: result.engine,
      engineVersion: result.engineVersion,
      args: result.args,
      startedAt: observedAt,
      finishedAt: new Date(result.finishedAt),
      hostsUp,
    });
    return [...events, ...(await this.ledger.finishIfComplete(manager, job, now))];
  }

  private async applyFailure(manager: EntityManager, failure: ScanFailed): Promise<EventEntity[]> {
    const job = await this.ledger.lockJob(manager, failure.jobId);
    const chunk = await manager.findOneBy(ScanChunkEntity, { id: failure.chunkId });
    if (!job || !chunk) return [];
    const settled = await this.ledger.settleChunk(manager, job, chunk, {
      worker: failure.worker,
      startedAt: failure.startedAt ? new Date(failure.startedAt) : undefined,
      finishedAt: new Date(failure.failedAt),
      error: failure.error.message,
    });
    return settled ? this.ledger.finishIfComplete(manager, job, new Date()) : [];
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
    await manager.update(ScanChunkEntity, chunk.id, { resultParts: state, status: 'running' });
    return undefined;
  }

  private async loadBaselines(manager: EntityManager, trackerId: string, hosts: string[]): Promise<Map<string, { host: string; observedAt: Date; coverage: BaselineCoverageRecord | null }>> {
    if (!hosts.length) return new Map();
    const rows: { host: string; observed_at: Date; coverage: BaselineCoverageRecord | null }[] = await manager.query(
      'SELECT host, observed_at, coverage FROM baselines WHERE tracker_id = $1 AND host = ANY($2)',
      [trackerId, hosts],
    );
    return new Map(rows.map((r) => [r.host, { host: r.host, observedAt: new Date(r.observed_at), coverage: r.coverage }]));
  }

  private async loadCurrent(manager: EntityManager, trackerId: string, hosts: string[]): Promise<Item[]> {
    if (!hosts.length) return [];
    const rows: { host: string; item_type: string; item_key: string; attributes: Item['attributes'] }[] = await manager.query(
      'SELECT host, item_type, item_key, attributes FROM current_items WHERE tracker_id = $1 AND host = ANY($2)',
      [trackerId, hosts],
    );
    return rows.map((r) => ({ type: r.item_type, host: r.host, key: r.item_key, attributes: r.attributes }));
  }
}

async function markUploadApplied(manager: EntityManager, messageId: string): Promise<void> {
  await manager.query('UPDATE agent_uploads SET applied_at = now() WHERE id = $1 AND applied_at IS NULL', [messageId]);
}


interface TrackerSettingsRow {
  send_baseline_events: boolean;
  device_send_baseline_events: boolean | null;
  confirmations: number;
  flapping: FlappingRecord | null;
  udp_open_filtered: 'open' | 'closed' | 'ignore';
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
