import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import { Bus, ConsumerHandle, Delivery, Outcome, Outcomes, retryDelayMs, Slots } from '@portolan/bus';
import { ALL_SITES_NAME, isDomainError, Messages, ScanCompleted, ScanRequested, WorkerFeatures } from '@portolan/contracts';
import { PlatformConfig, ScannerConfig, workerName } from '@portolan/config';
import { Logger } from '@portolan/logging';
import { defaultTcpTechnique, ScanEngine, ScanOutcome, scanFailureReason, scanPercent, selectScanEngine } from '@portolan/nmap';
import { BUS, chunkFailure, JobCancellations, LOGGER, PLATFORM_CONFIG, PresenceBeacon, SCOPE_GUARD, SERVICE_INFO, ServiceInfo } from '@portolan/platform';
import { parseTargetSpec, ScopeGuard } from '@portolan/targets';
import { splitResult } from './result.splitter';

export const SCANNER_CONFIG = Symbol('portolan.scanner-config');
/** All sites: the all-in-one hub's scanner serves every site's subject. */
export const ALL_SITES = '*';
/** Failures worth another attempt on another delivery; the rest are final at once. */
const FINAL_REASONS = new Set(['timeout', 'no_hosts', 'cancelled', 'result_too_large']);
const MAX_ATTEMPTS = 3;

/**
 * A scanner worker: takes chunk jobs of its site from the shared durable consumers (version 1,
 * which every worker takes, and version 2, the paced chunks, which only workers that keep to
 * `maxRate` take), runs the scan engine (nmap, or the built-in connect scanner where nmap is
 * absent), holds its lease with working() while the scan runs, streams progress, and publishes
 * the complete observation set, or a failure, before acking. A scan of a job an operator
 * cancelled stops (nmap killed), and the job's chunks still queued are passed over.
 */
@Injectable()
export class ScanWorker implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private engine?: ScanEngine;
  private consumers: ConsumerHandle[] = [];
  private readonly inFlight = new Set<AbortController>();
  /**
   * At most `concurrency` scans at once, whichever version their chunks came as. A consumer takes
   * a chunk only with a free slot: one never waits here while another worker could scan it.
   */
  private readonly slots: Slots;
  private presence?: PresenceBeacon;
  private readonly cancellations = new JobCancellations();

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCANNER_CONFIG) private readonly config: ScannerConfig,
    @Inject(PLATFORM_CONFIG) private readonly platform: PlatformConfig,
    @Inject(SCOPE_GUARD) private readonly scope: ScopeGuard,
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
  ) {
    this.slots = new Slots(config.concurrency);
  }

  get worker(): string {
    return workerName(this.platform, this.config.site);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.site === ALL_SITES_NAME) throw new Error(`SCANNER_SITE "${ALL_SITES_NAME}" is reserved for a worker that serves every site: set it to "${ALL_SITES}" for that, or name the site`);
    this.engine = await selectScanEngine(this.config.engine);
    const allSites = this.config.site === ALL_SITES;
    const common = {
      route: allSites ? undefined : this.config.site,
      concurrency: this.config.concurrency,
      slots: this.slots,
      ackWaitMs: Math.max(30_000, this.config.heartbeatMs * 4),
      maxDeliver: MAX_ATTEMPTS + 2,
    };
    const site = allSites ? ALL_SITES_NAME : this.config.site;
    // Version 2's consumer names start `scanner_v2-`, which no version 1 name (`scanner-<site>`) can, whatever the site is called.
    this.consumers = [
      await this.cancellations.listen(this.bus, this.logger),
      await this.bus.consume({ ...common, message: Messages.scanRequested, durable: `scanner-${site}` }, (delivery) => this.handle(delivery)),
      await this.bus.consume({ ...common, message: Messages.scanRequestedV2, durable: `scanner_v2-${site}` }, (delivery) => this.handle(delivery)),
    ];
    this.logger.info({ site: this.config.site, engine: this.engine.name, concurrency: this.config.concurrency, paces: true }, 'scanner worker ready');
    const { concurrency } = this.config;
    this.presence = new PresenceBeacon(this.bus, this.logger, () => ({
      worker: this.worker,
      kind: 'scanner',
      site: this.config.site,
      version: this.service.version,
      features: [WorkerFeatures.scanPace],
      concurrency,
      busy: this.inFlight.size,
    }));
    this.presence.start();
  }

  /** The first hook of a stop, in every module: the hub's own scheduler (the all-in-one hub) still hears that it stops. */
  onModuleDestroy(): void {
    this.presence?.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const controller of this.inFlight) controller.abort();
    await Promise.all(this.consumers.map((consumer) => consumer.stop()));
  }

  async handle(delivery: Delivery<ScanRequested>): Promise<Outcome> {
    const job = delivery.envelope.payload;
    const engine = this.engine;
    if (!engine) return Outcomes.nak(1000);
    if (Date.parse(job.deadline) < Date.now()) {
      this.logger.warn({ jobId: job.jobId, chunkId: job.chunkId }, 'chunk arrived after its deadline; skipped');
      return Outcomes.ack();
    }
    const log = this.logger.child({ jobId: job.jobId, chunkId: job.chunkId, chunk: `${job.chunkIndex + 1}/${job.chunkCount}` });
    const cancelledBefore = this.cancellations.reasonFor(job.jobId);
    if (cancelledBefore) {
      log.info({ reason: cancelledBefore }, 'chunk of a cancelled job; passed over');
      return Outcomes.ack();
    }
    const startedAt = new Date();
    const controller = new AbortController();
    this.inFlight.add(controller);
    const untrack = this.cancellations.track(job.jobId, controller);
    const heartbeat = setInterval(() => delivery.working(), this.config.heartbeatMs);
    let lastProgress = 0;
    const progress = (percent: number, hostsDone: number) =>
      this.bus.emit(
        Messages.scanProgress,
        { jobId: job.jobId, chunkId: job.chunkId, worker: this.worker, engine: engine.name, percent, hostsDone, startedAt: startedAt.toISOString(), at: new Date().toISOString() },
        { route: job.jobId },
      );
    try {
      // The worker's own scope guard, whatever the hub asked: a site scans only what it allows.
      this.scope.check(parseTargetSpec(job.targets.join(' ')));
      progress(0, 0);
      const technique = job.tcpTechnique === 'auto' ? defaultTcpTechnique(engine) : job.tcpTechnique;
      log.info({ engine: engine.name, technique, targets: job.targets.length, hosts: job.hostCount }, 'scan started');
      const outcome = await engine.scan(
        { targets: job.targets, ipv6: job.ipv6, ports: job.ports, tcpTechnique: technique, skipHostDiscovery: job.skipHostDiscovery, maxRate: job.maxRate, timeoutMs: job.timeoutMs, signal: controller.signal },
        (p) => {
          if (Date.now() - lastProgress < 1000) return;
          lastProgress = Date.now();
          progress(scanPercent(p, job.hostCount), p.hostsDone);
        },
      );
      const parts = splitResult(this.toResult(job, outcome), randomUUID(), this.config.maxResultBytes);
      for (const part of parts) await this.bus.publish(Messages.scanCompleted, part, { correlationId: job.jobId });
      log.info({ durationMs: outcome.durationMs, hostsUp: outcome.hostsUp, hostsTotal: outcome.hostsTotal, parts: parts.length }, 'scan finished');
      return Outcomes.ack();
    } catch (error) {
      const cancelled = this.cancellations.reasonFor(job.jobId);
      if (controller.signal.aborted && cancelled) {
        log.info({ reason: cancelled }, 'scan stopped: its job was cancelled');
        return Outcomes.ack();
      }
      if (controller.signal.aborted) return Outcomes.nak(0); // shutting down: let another worker have it
      const message = error instanceof Error ? error.message : String(error);
      const reason = scanFailureReason(error);
      const final = (isDomainError(error) && error.code !== 'scan_failed') || (reason !== undefined && FINAL_REASONS.has(reason)) || delivery.deliveryCount >= MAX_ATTEMPTS;
      log.warn({ err: message, reason, attempt: delivery.deliveryCount, final }, 'scan failed');
      if (!final) return Outcomes.nak(retryDelayMs(delivery.deliveryCount));
      const code = reason ?? (isDomainError(error) ? error.code : 'internal');
      await this.bus.publish(Messages.scanFailed, chunkFailure(job, this.worker, startedAt, code, message), { correlationId: job.jobId });
      return Outcomes.ack();
    } finally {
      clearInterval(heartbeat);
      this.inFlight.delete(controller);
      untrack();
    }
  }

  private toResult(job: ScanRequested, outcome: ScanOutcome): Omit<ScanCompleted, 'scanId' | 'part'> {
    return {
      jobId: job.jobId,
      chunkId: job.chunkId,
      trackerId: job.trackerId,
      deviceId: job.deviceId,
      worker: this.worker,
      engine: outcome.engine,
      engineVersion: outcome.engineVersion,
      args: outcome.args,
      startedAt: outcome.startedAt.toISOString(),
      finishedAt: outcome.finishedAt.toISOString(),
      durationMs: Math.round(outcome.durationMs),
      coverage: { ports: job.ports },
      hosts: outcome.hosts.map((host) => ({
        address: host.address,
        hostnames: [...new Set([...host.hostnames, ...(job.hostNames[host.address] ? [job.hostNames[host.address]] : [])])].slice(0, 32),
        state: host.state,
        reason: host.reason,
        ports: host.ports.map((p) => ({ protocol: p.protocol, port: p.port, state: p.state, reason: p.reason, service: p.service, product: p.product, version: p.version })),
      })),
    };
  }
}
