import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown, OnModuleDestroy } from '@nestjs/common';
import { Bus, ConsumerHandle, Delivery, Outcome, Outcomes, retryDelayMs, Slots } from '@portolan/bus';
import { collectDevice, CollectOutcome, CREDENTIAL_TYPES, HostKeyChangedError, profileById } from '@portolan/collectors';
import { ALL_SITES_NAME, CollectRequested, DomainError, isDomainError, Messages, ScanCompleted } from '@portolan/contracts';
import { CollectorConfig, PlatformConfig, workerName } from '@portolan/config';
import { Logger } from '@portolan/logging';
import { BUS, chunkFailure, CredentialVault, HostKeyStore, JobCancellations, LOGGER, PLATFORM_CONFIG, PresenceBeacon, SCOPE_GUARD, SERVICE_INFO, ServiceInfo } from '@portolan/platform';
import { parseTargetSpec, ScopeGuard } from '@portolan/targets';
import { KeyedLimiter } from './keyed.limiter';

export const COLLECTOR_CONFIG = Symbol('portolan.collector-config');
/** All sites: the all-in-one hub's collector serves every site's subject. */
export const ALL_SITES = '*';
const MAX_ATTEMPTS = 3;
/** Failures another attempt may cure (the device busy, a network blip); the rest are final at once. */
const RETRYABLE = new Set(['timeout', 'refused', 'unreachable', 'closed', 'connect_failed', 'ssh_failed', 'smb_failed']);

/**
 * An agentless collector: takes collection jobs of its site from the shared durable consumer,
 * opens the device's credential only for the job, reads the device over SSH, Telnet or SMB
 * with its profile (at most a few sessions per host at once), pins the SSH host key on first
 * contact and refuses a changed one, and publishes the items it read as a complete result, or
 * a failure with its reason, before acking. The credential's secrets never leave this process,
 * never reach a log, an error message or a child's command line. A collection of a job an
 * operator cancelled is not started, or, under way, finishes unsent (collections are short, and
 * bounded by their command timeout).
 */
@Injectable()
export class CollectWorker implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  private consumer?: ConsumerHandle;
  private cancelListener?: ConsumerHandle;
  private readonly cancellations = new JobCancellations();
  private readonly perHost: KeyedLimiter;
  private presence?: PresenceBeacon;
  /** Collections under way now (for its presence). */
  private busy = 0;
  private stopping = false;

  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    @Inject(PLATFORM_CONFIG) private readonly platform: PlatformConfig,
    @Inject(SCOPE_GUARD) private readonly scope: ScopeGuard,
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
    private readonly vault: CredentialVault,
    private readonly hostKeys: HostKeyStore,
  ) {
    this.perHost = new KeyedLimiter(config.perHostConcurrency);
  }

  get worker(): string {
    return `collector:${workerName(this.platform, this.config.site)}`.slice(0, 128);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.site === ALL_SITES_NAME) throw new Error(`COLLECTOR_SITE "${ALL_SITES_NAME}" is reserved for a collector that serves every site: set it to "${ALL_SITES}" for that, or name the site`);
    const allSites = this.config.site === ALL_SITES;
    this.cancelListener = await this.cancellations.listen(this.bus, this.logger);
    this.consumer = await this.bus.consume(
      {
        message: Messages.collectRequested,
        durable: `collector-${allSites ? ALL_SITES_NAME : this.config.site}`,
        route: allSites ? undefined : this.config.site,
        concurrency: this.config.concurrency,
        // A collection is taken only when it can start: one never waits here, its ack wait running, while another collector is free.
        slots: new Slots(this.config.concurrency),
        ackWaitMs: Math.max(30_000, this.config.heartbeatMs * 4),
        maxDeliver: MAX_ATTEMPTS + 2,
      },
      (delivery) => this.handle(delivery),
    );
    this.logger.info({ site: this.config.site, concurrency: this.config.concurrency, perHost: this.config.perHostConcurrency }, 'collector ready');
    const { site, concurrency } = this.config;
    this.presence = new PresenceBeacon(this.bus, this.logger, () => ({ worker: this.worker, kind: 'collector', site, version: this.service.version, features: [], concurrency, busy: this.busy }));
    this.presence.start();
  }

  /** The first hook of a stop, in every module: the hub's own scheduler (the all-in-one hub) still hears that it stops. */
  onModuleDestroy(): void {
    this.presence?.stop();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.consumer?.stop();
    await this.cancelListener?.stop();
  }

  async handle(delivery: Delivery<CollectRequested>): Promise<Outcome> {
    const job = delivery.envelope.payload;
    if (Date.parse(job.deadline) < Date.now()) {
      this.logger.warn({ jobId: job.jobId, chunkId: job.chunkId }, 'collection arrived after its deadline; skipped');
      return Outcomes.ack();
    }
    const log = this.logger.child({ jobId: job.jobId, deviceId: job.deviceId, protocol: job.protocol, profile: job.profile, host: job.host, port: job.port });
    const cancelled = () => this.cancellations.reasonFor(job.jobId);
    const passOver = (what: string, err?: string) => (log.info({ reason: cancelled(), ...(err && { err }) }, `${what}: its job was cancelled`), Outcomes.ack());
    if (cancelled()) return passOver('collection passed over');
    const startedAt = new Date();
    const heartbeat = setInterval(() => delivery.working(), this.config.heartbeatMs);
    this.busy += 1;
    try {
      return await this.perHost.run(job.host, async () => {
        if (cancelled()) return passOver('collection passed over');
        this.progress(job, startedAt, 0);
        const outcome = await this.collect(job);
        if (cancelled()) return passOver('collection finished, not sent');
        if (outcome.hostKey) await this.hostKeys.pinFirst(job.deviceId, outcome.hostKey, outcome.finishedAt);
        await this.bus.publish(Messages.scanCompleted, this.toResult(job, outcome), { correlationId: job.jobId });
        log.info({ durationMs: outcome.finishedAt.getTime() - outcome.startedAt.getTime(), ports: outcome.host.ports.length, items: outcome.host.items?.length ?? 0 }, 'collection finished');
        return Outcomes.ack();
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const reason = isDomainError(error) ? String(error.details['reason'] ?? error.code) : 'internal';
      if (error instanceof HostKeyChangedError) await this.hostKeys.recordMismatch(job.deviceId, error.presented, new Date());
      if (cancelled()) return passOver('collection failed, not retried', message);
      if (this.stopping) return Outcomes.nak(0);
      const final = !RETRYABLE.has(reason) || delivery.deliveryCount >= MAX_ATTEMPTS;
      log.warn({ err: message, reason, attempt: delivery.deliveryCount, final }, 'collection failed');
      if (!final) return Outcomes.nak(retryDelayMs(delivery.deliveryCount));
      await this.bus.publish(Messages.scanFailed, chunkFailure(job, this.worker, startedAt, reason, message), { correlationId: job.jobId });
      return Outcomes.ack();
    } finally {
      clearInterval(heartbeat);
      this.busy -= 1;
    }
  }

  private async collect(job: CollectRequested): Promise<CollectOutcome> {
    // The collector's own scope guard, whatever the hub asked.
    this.scope.check(parseTargetSpec(job.host));
    const profile = profileById(job.profile);
    if (!profile) throw new DomainError('invalid_config', `device profile "${job.profile}" is not known to this collector`, { reason: 'unknown_profile' });
    const credential = await this.vault.open(job.credentialId);
    if (!(CREDENTIAL_TYPES[job.protocol] as readonly string[]).includes(credential.type)) {
      throw new DomainError('invalid_config', `credential "${credential.name}" is ${credential.type}; ${job.protocol} needs ${CREDENTIAL_TYPES[job.protocol].join(' or ')}`, { reason: 'wrong_credential_type' });
    }
    return collectDevice({
      protocol: job.protocol,
      profile,
      host: job.host,
      port: job.port,
      ports: job.ports,
      credential,
      pinnedHostKey: job.protocol === 'ssh' ? await this.hostKeys.pinned(job.deviceId) : undefined,
      connectTimeoutMs: this.config.connectTimeoutMs,
      commandTimeoutMs: Math.min(this.config.commandTimeoutMs, job.timeoutMs),
      maxOutputBytes: this.config.maxOutputBytes,
    });
  }

  private progress(job: CollectRequested, startedAt: Date, percent: number): void {
    this.bus.emit(
      Messages.scanProgress,
      { jobId: job.jobId, chunkId: job.chunkId, worker: this.worker, engine: job.protocol, percent, hostsDone: 0, startedAt: startedAt.toISOString(), at: new Date().toISOString() },
      { route: job.jobId },
    );
  }

  private toResult(job: CollectRequested, outcome: CollectOutcome): ScanCompleted {
    return {
      jobId: job.jobId,
      chunkId: job.chunkId,
      trackerId: job.trackerId,
      deviceId: job.deviceId,
      worker: this.worker,
      engine: outcome.engine,
      engineVersion: outcome.engineVersion,
      args: outcome.args.map((a) => a.slice(0, 4096)).slice(0, 512),
      startedAt: outcome.startedAt.toISOString(),
      finishedAt: outcome.finishedAt.toISOString(),
      durationMs: outcome.finishedAt.getTime() - outcome.startedAt.getTime(),
      coverage: { ports: outcome.coverage.ports, itemTypes: outcome.coverage.itemTypes },
      hosts: [outcome.host],
    };
  }
}
