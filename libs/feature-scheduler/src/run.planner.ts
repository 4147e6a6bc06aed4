import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Bus, ConsumerHandle, Outcome, Outcomes } from '@portolan/bus';
import { CollectRequested, DomainError, isDomainError, Messages, RunRequested } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { scanTimeoutMs } from '@portolan/nmap';
import { DeviceEntity, ScanChunkEntity, ScanJobEntity, SiteEntity, TrackerEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER, SCOPE_GUARD, ScanJobLedger } from '@portolan/platform';
import { chunkTargets, countHosts, countPorts, intersectPortSets, parseTargetSpec, resolveHostnames, ScopeGuard, TargetSpec, toNmapTargets } from '@portolan/targets';
import { ChunkDispatcher, ChunkRequest, requestOf } from './chunk.dispatcher';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

const CONSUMER = 'scheduler-run-requests';

/** What planning a run leaves to do once committed: the chunks to publish (or, held for their turn, how many), the events to announce. */
interface Planned {
  readonly publish: ChunkRequest[];
  readonly held?: number;
  readonly site: string;
  readonly failed: Awaited<ReturnType<ScanJobLedger['failJob']>>;
}

/**
 * Turns a requested run into chunk jobs: re-parses the device's address, resolves host names,
 * applies the scope guard, splits into chunks of at most N hosts, stores the chunks and
 * publishes one scan job per chunk to the site's subject (a paced run's chunks one at a time of
 * its tracker's, `ChunkDispatcher.releasePacedTurns`). A run that cannot be planned fails with a
 * communications event naming the reason; nothing is scanned.
 */
@Injectable()
export class RunPlanner implements OnApplicationBootstrap, OnModuleDestroy {
  private consumer?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCOPE_GUARD) private readonly scope: ScopeGuard,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
    private readonly dispatcher: ChunkDispatcher,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.consumer = await this.bus.consume({ message: Messages.runRequested, durable: CONSUMER, concurrency: 2, ackWaitMs: 60_000 }, (d) =>
      this.plan(d.envelope.payload),
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.stop();
  }

  async plan(request: RunRequested): Promise<Outcome> {
    const now = new Date();
    // Planning is idempotent by the job's status: only a pending job is planned, once.
    const planned = await this.db.transaction(async (manager): Promise<Planned> => {
      const job = await this.ledger.lockJob(manager, request.jobId);
      if (!job || job.status !== 'pending') return { publish: [], site: '', failed: [] };
      try {
        return await this.createChunks(manager, job, now);
      } catch (error) {
        if (!isDomainError(error)) throw error;
        this.logger.warn({ jobId: job.id, code: error.code, err: error.message }, 'run could not be planned');
        return { publish: [], site: '', failed: await this.ledger.failJob(manager, job, error.message, now) };
      }
    });
    await this.events.announce(planned.failed);
    await this.dispatcher.dispatch(planned.publish);
    // A paced run's first chunk goes now if its tracker has no other scan under way; else, and if this fails, the leader releases it in turn.
    if (planned.held) await this.dispatcher.releasePacedTurns(now).catch((error: unknown) => this.logger.warn({ jobId: request.jobId, err: String(error) }, 'paced run not released; the scheduler will'));
    if (planned.publish.length || planned.held) this.logger.info({ jobId: request.jobId, chunks: planned.publish.length || planned.held, held: Boolean(planned.held), site: planned.site }, 'scan planned');
    return Outcomes.ack();
  }

  private async createChunks(manager: EntityManager, job: ScanJobEntity, now: Date): Promise<Planned> {
    const tracker = await manager.findOneBy(TrackerEntity, { id: job.trackerId });
    const device = await manager.findOneBy(DeviceEntity, { id: job.deviceId });
    if (!tracker || !device) throw new DomainError('not_found', 'the tracker or device of this job no longer exists');
    const site = device.siteId ? ((await manager.findOneBy(SiteEntity, { id: device.siteId }))?.name ?? this.config.defaultSite) : this.config.defaultSite;

    const deviceTargets = await resolveHostnames(parseTargetSpec(device.address));
    this.scope.check(deviceTargets.spec);
    if (tracker.mode === 'agentless') return this.createCollection(manager, job, tracker, device, deviceTargets, site, now);
    if (job.probe && !tracker.enabled) throw new DomainError('invalid_target', 'the tracker is disabled: its re-probe is not run');
    // A re-probe looks again at just the changed ports of some hosts: those of the device, within the tracker's ports.
    const resolved = job.probe ? probeTargets(job.probe.hosts, deviceTargets) : deviceTargets;
    const ports = job.probe ? intersectPortSets(job.probe.ports, tracker.portSet) : tracker.portSet;
    if (job.probe && countPorts(ports).total === 0) throw new DomainError('invalid_target', 'the re-probe names no port the tracker still scans');
    const portCount = countPorts(ports).total;
    const chunks = chunkTargets(resolved.spec, tracker.mode === 'remote' ? Number.MAX_SAFE_INTEGER : this.config.chunkMaxHosts);
    const hosts = countHosts(resolved.spec);
    if (hosts === 0) throw new DomainError('invalid_target', `device address "${device.address}" selects no hosts`);

    const messages: ChunkRequest[] = [];
    const rows: ScanChunkEntity[] = [];
    // Until a worker starts it, a chunk waits in its site's queue; the run timeout starts then. A
    // paced run's chunks wait their turn, held: one at a time of the tracker's is released (and its
    // deadline set again), so that its scans never send more than its pace between them.
    const deadline = new Date(now.getTime() + this.config.chunkQueueTimeoutMs);
    const held = tracker.maxRate !== null;
    chunks.forEach((spec, index) => {
      const hostCount = countHosts(spec);
      const probeCount = hostCount * portCount;
      const timeoutMs = scanTimeoutMs({ baseMs: this.config.chunkTimeoutBaseMs, perProbeMs: this.config.chunkTimeoutPerProbeMs }, probeCount, hostCount, tracker.maxRate);
      const chunkId = randomUUID();
      const targets = toNmapTargets(spec.entries);
      rows.push(
        Object.assign(new ScanChunkEntity(), {
          id: chunkId,
          jobId: job.id,
          index,
          targets,
          hostCount,
          probeCount,
          status: 'queued',
          progress: 0,
          hostsDone: 0,
          queuedAt: now,
          deadline,
          held,
        }),
      );
      messages.push({
        kind: 'scan',
        jobId: job.id,
        chunkId,
        chunkIndex: index,
        chunkCount: chunks.length,
        trackerId: tracker.id,
        deviceId: device.id,
        site,
        targets,
        ipv6: spec.entries.some((e) => e.kind === 'ipv6'),
        hostNames: Object.fromEntries(Object.entries(resolved.names).filter(([address]) => targets.includes(address))),
        hostCount,
        ports,
        tcpTechnique: tracker.tcpTechnique,
        skipHostDiscovery: tracker.skipHostDiscovery,
        ...(tracker.maxRate !== null && { maxRate: tracker.maxRate }),
        timeoutMs,
        deadline: deadline.toISOString(),
      });
    });
    rows.forEach((row, index) => (row.request = requestOf(messages[index])));
    await manager.save(ScanChunkEntity, rows, { chunk: 200 });
    await manager.update(ScanJobEntity, job.id, {
      status: 'queued',
      site,
      chunkCount: rows.length,
      hostsPlanned: hosts,
      probesPlanned: hosts * portCount,
    });
    return { publish: held ? [] : messages, held: held ? rows.length : 0, site, failed: [] };
  }

  /** An agentless tracker: one collection of its one host by the site's collectors, with the device's credential. */
  private async createCollection(manager: EntityManager, job: ScanJobEntity, tracker: TrackerEntity, device: DeviceEntity, resolved: Awaited<ReturnType<typeof resolveHostnames>>, site: string, now: Date) {
    const collector = tracker.collector;
    if (!collector) throw new DomainError('invalid_config', `tracker ${tracker.id} is agentless but has no collector`);
    if (!device.credentialId) throw new DomainError('invalid_config', `device "${device.name}" has no credential; a collector cannot log in`);
    const hosts = countHosts(resolved.spec);
    const targets = toNmapTargets(resolved.spec.entries);
    if (hosts !== 1 || targets.length !== 1) throw new DomainError('invalid_target', `an agentless collector reads one host; device address "${device.address}" selects ${hosts}`);
    const deadline = new Date(now.getTime() + this.config.chunkQueueTimeoutMs);
    const chunkId = randomUUID();
    const request: CollectRequested & { kind: 'collect' } = {
      kind: 'collect',
      jobId: job.id,
      chunkId,
      trackerId: tracker.id,
      deviceId: device.id,
      site,
      protocol: collector.protocol,
      profile: collector.profile,
      host: targets[0],
      port: collector.port,
      credentialId: device.credentialId,
      ports: tracker.portSet,
      timeoutMs: this.config.chunkTimeoutBaseMs,
      deadline: deadline.toISOString(),
    };
    const row = Object.assign(new ScanChunkEntity(), { id: chunkId, jobId: job.id, index: 0, kind: 'collect', targets, hostCount: 1, probeCount: 1, status: 'queued', progress: 0, hostsDone: 0, queuedAt: now, deadline, request: requestOf(request) });
    await manager.save(ScanChunkEntity, row);
    await manager.update(ScanJobEntity, job.id, { status: 'queued', site, chunkCount: 1, hostsPlanned: 1, probesPlanned: 1 });
    return { publish: [request] as ChunkRequest[], site, failed: [] };
  }
}

/** The re-probe's hosts, each of which must be one of the device's (a host it no longer covers is left out). */
function probeTargets(hosts: readonly string[], device: Awaited<ReturnType<typeof resolveHostnames>>): Awaited<ReturnType<typeof resolveHostnames>> {
  const spec = parseTargetSpec(hosts.join(' '));
  const inDevice = (entry: TargetSpec['entries'][number]) =>
    device.spec.entries.some((d) =>
      entry.kind === 'ipv4' && d.kind === 'ipv4' ? d.from <= entry.from && entry.to <= d.to : entry.kind === 'ipv6' && d.kind === 'ipv6' ? d.address === entry.address : false,
    );
  const entries = spec.entries.filter(inDevice);
  if (!entries.length) throw new DomainError('invalid_target', `the re-probe's hosts (${hosts.slice(0, 5).join(', ')}) are no longer in the device's address`);
  return { spec: { entries }, names: device.names };
}
