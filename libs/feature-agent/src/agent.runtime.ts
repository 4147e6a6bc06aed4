import { randomUUID } from 'node:crypto';
import { hostname, release } from 'node:os';
import { AgentConfig, AgentHostReport, AgentJob, AgentTracker, EnrolRequest, EnrolResponse } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AGENT_FEATURES } from './agent.version';
import { AgentSettings } from './config/agent.config';
import { HubClient, HubError, HubUnreachableError } from './hub/hub.client';
import { describeOs } from './host/os-description';
import { createHubAgent, HubPins, HubTrustError } from './hub/hub.tls';
import { AskedRunDecision, AskedRuns } from './runs/asked-runs';
import { ProgressReporter } from './scan/progress.reporter';
import { RunTrigger, TrackerRunner } from './scan/tracker.runner';
import { LocalSchedule } from './schedule/local.schedule';
import { inspectSpool, ResultSpool, SpoolInspection } from './spool/result.spool';
import { AgentIdentity, AgentStateStore } from './state/agent-state.store';
import { ResultUploader } from './upload/result.uploader';

const MAX_BACKOFF_MS = 30_000;
const TICK_MS = 500;
/** How long a clone the hub could not give an identity of its own waits before it asks again. */
const CLONE_RETRY_MS = 10 * 60_000;

/** Why the agent stopped for good: it must not keep knocking with a secret the hub refuses. */
export class AgentFatalError extends Error {}

/** What `portolan-agent status` prints: the agent as its state directory and the hub see it, never its secret. */
export interface AgentStatusReport {
  /** Enrolled, and the hub took its credentials just now. */
  readonly ok: boolean;
  readonly version: string;
  /** What this program tells the hub it can do (`AGENT_FEATURES`). */
  readonly features: readonly string[];
  readonly hubUrl: string;
  /** The proxy the hub is reached through, without its credentials. */
  readonly proxy: string | null;
  readonly stateDir: string;
  readonly identity: { readonly agentId: string; readonly deviceId: string; readonly site: string; readonly enrolledAt: string } | null;
  /** The configuration the agent last had from the hub, kept for when the hub is away. */
  readonly cachedConfig: { readonly version: number; readonly trackers: number } | null;
  readonly spool: SpoolInspection;
  /** The hub, asked for this agent's configuration just now (trust, reachability and credentials at once). */
  readonly hub: { readonly reachable: boolean; readonly ms?: number; readonly configVersion?: number; readonly status?: number; readonly error?: string };
}

/**
 * The agent: enrols once (identity kept in its state directory), keeps its trackers'
 * schedules itself from the last configuration the hub gave it (so scans go on while the hub
 * is unreachable), long-polls the hub for runs asked of it and for configuration changes (the
 * poll is its heartbeat), and hands every result to the spool-backed uploader.
 */
export class AgentRuntime {
  readonly boot = randomUUID();
  private readonly state: AgentStateStore;
  private readonly hub: HubClient;
  /** The pins checked on every connection, when the agent pins the hub. */
  private readonly pins?: HubPins;
  /** The proxy the hub is reached through (`http://host:port`, no credentials), if any. */
  private readonly proxyLabel?: string;
  private readonly runner: TrackerRunner;
  private schedule = new LocalSchedule();
  private spool?: ResultSpool;
  private uploader?: ResultUploader;
  private config?: AgentConfig;
  /** The host name last told to the hub this boot, and the report on its way, if one is. */
  private reportedHostname?: string;
  private hostReport?: Promise<void>;
  private queue: Promise<void> = Promise.resolve();
  private fatal?: Error;
  /** Until when a clone's re-enrolment, refused by the hub, is not asked again. */
  private reenrolRefusedUntil = 0;
  /** Counts the identities this process has had: runs queued under an earlier one are not run, nor their results kept. */
  private generation = 0;
  /** The runs the hub asked of this process: one handed over again is not run twice. */
  private readonly askedRuns = new AskedRuns();

  constructor(
    private readonly settings: AgentSettings,
    private readonly logger: Logger,
    private readonly version: string,
  ) {
    this.state = new AgentStateStore(settings.stateDir);
    const { agent, pins, proxy } = createHubAgent(settings);
    this.hub = new HubClient(settings.hubUrl, agent, undefined, this.boot);
    this.pins = pins;
    this.proxyLabel = proxy?.label;
    this.runner = new TrackerRunner({ scanner: settings.scanner });
  }

  /** Enrols with the configured token unless already enrolled; returns the identity. */
  async enrol(signal?: AbortSignal): Promise<AgentIdentity> {
    await this.state.init();
    // The pins the hub announced last time, before the first call: the hub URL may lead to a gateway only those name.
    this.learnPins((await this.state.readConfig())?.hubPins ?? [], 'cached');
    const existing = await this.state.readIdentity();
    if (existing) return existing;
    const token = this.settings.enrolToken;
    if (!token) throw new AgentFatalError('the agent is not enrolled and no enrolment token is configured (enrolToken / PORTOLAN_ENROL_TOKEN)');
    const host = await this.hostToEnrol();
    const answer = await this.retrying('enrol', signal, () => this.hub.enrol({ token, ...host }));
    const identity = this.identityOf(answer);
    await this.state.writeIdentity(identity);
    this.logger.info({ agentId: identity.agentId, deviceId: identity.deviceId, site: identity.site, groups: answer.groups }, 'agent enrolled');
    return identity;
  }

  /**
   * The agent as an operator on the host wants to see it: enrolled or not, its cached
   * configuration, what its spool holds and whether an agent process holds it, and whether the
   * hub answers this agent now. Changes nothing, and runs beside a running agent.
   */
  async status(signal?: AbortSignal): Promise<AgentStatusReport> {
    let identity: AgentIdentity | undefined;
    let damaged: string | undefined;
    try {
      identity = await this.state.readIdentity();
    } catch (error) {
      damaged = (error as Error).message;
    }
    const config = await this.state.readConfig().catch(() => undefined);
    const spool = await inspectSpool(this.state.spoolDir);
    let hub: AgentStatusReport['hub'];
    if (!identity) {
      hub = { reachable: false, error: damaged ?? 'not enrolled: no identity in the state directory (portolan-agent enrol)' };
    } else {
      this.hub.useCredentials(identity);
      const started = Date.now();
      try {
        const answer = await this.hub.config(signal);
        hub = { reachable: true, ms: Date.now() - started, configVersion: answer.configVersion };
      } catch (error) {
        const status = error instanceof HubError ? error.status : undefined;
        hub = { reachable: error instanceof HubError, ...(status ? { status } : {}), error: (error as Error).message };
      }
    }
    return {
      ok: Boolean(identity && hub.configVersion !== undefined),
      version: this.version,
      features: AGENT_FEATURES,
      hubUrl: this.settings.hubUrl,
      proxy: this.proxyLabel ?? null,
      stateDir: this.state.dir,
      identity: identity ? { agentId: identity.agentId, deviceId: identity.deviceId, site: identity.site, enrolledAt: identity.enrolledAt } : null,
      cachedConfig: config ? { version: config.configVersion, trackers: config.trackers.length } : null,
      spool,
      hub,
    };
  }

  async rotateSecret(): Promise<void> {
    const identity = await this.enrol();
    this.hub.useCredentials(identity);
    const { secret } = await this.hub.rotateSecret();
    await this.state.writeIdentity({ ...identity, secret });
    this.logger.info({ agentId: identity.agentId }, 'agent secret rotated');
  }

  async run(signal: AbortSignal): Promise<void> {
    const identity = await this.enrol(signal);
    this.hub.useCredentials(identity);
    this.spool = new ResultSpool(this.state.spoolDir, { maxEntries: this.settings.spoolMaxEntries, maxBytes: this.settings.spoolMaxBytes }, (level, msg, fields) =>
      this.logger[level](fields ?? {}, msg),
    );
    await this.spool.open();
    // Runs an earlier process finished: handed to this one (never seen to start), they are not run
    // again, even once their results, uploaded meanwhile, have left the spool.
    this.askedRuns.markTaken(this.spool.heldRefs());
    this.uploader = new ResultUploader(this.spool, this.hub, this.logger, (error) => this.stopFatally(error));
    // The configuration kept for this identity only (a crash just after a clone enrolled anew may leave the shared identity's).
    const cached = await this.state.readConfig();
    this.applyConfig(cached?.agentId === identity.agentId ? cached : undefined, 'cached');
    this.logger.info({ agentId: identity.agentId, boot: this.boot, spooled: this.spool.depth().entries, scanner: this.settings.scanner, ...(this.proxyLabel ? { proxy: this.proxyLabel } : {}) }, 'agent started');
    void this.uploader.drain();
    try {
      await Promise.all([this.pollLoop(signal), this.scheduleLoop(signal)]);
    } finally {
      this.uploader.stop();
      await this.queue.catch(() => undefined);
      await this.hostReport;
      await this.spool.close();
    }
    if (this.fatal) throw this.fatal;
  }

  private async pollLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let fetchConfig = true;
    while (!signal.aborted && !this.fatal) {
      this.reportHostIfNeeded(signal);
      try {
        if (fetchConfig) {
          const config = await this.hub.config();
          await this.state.writeConfig(config);
          this.applyConfig(config, 'hub');
          fetchConfig = false;
          this.takeRunsAwaitingConfig();
        }
        const depth = this.spool!.depth();
        const answer = await this.hub.poll(
          { wait: this.settings.pollWaitSeconds, boot: this.boot, version: this.version, features: [...AGENT_FEATURES], spoolEntries: depth.entries, spoolDropped: depth.dropped, configVersion: this.config?.configVersion },
          signal,
        );
        if (failures > 0) {
          this.logger.info({ after: failures }, 'hub reachable again');
          void this.uploader!.drain();
        }
        failures = 0;
        for (const job of answer.jobs) if (this.takeRun(job)) fetchConfig = true; // a tracker this agent does not know yet: new configuration first
        if (answer.clone) {
          // The hub answers a clone at once: one it could not re-enrol polls at a long poll's pace.
          if (await this.reenrolAsClone()) fetchConfig = true;
          else await sleep(Math.max(5, this.settings.pollWaitSeconds) * 1000, signal);
          continue;
        }
        if (this.config && answer.configVersion !== this.config.configVersion) fetchConfig = true;
        if (!this.settings.pollWaitSeconds) await sleep(5_000, signal);
      } catch (error) {
        if (signal.aborted) return; // stopping: the poll was cut short on purpose
        if (error instanceof HubError && error.status === 401) return this.stopFatally(error);
        if (error instanceof HubTrustError) return this.stopFatally(error);
        failures += 1;
        const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(5, failures - 1));
        this.logger.warn({ err: (error as Error).message, retryInMs: delay }, error instanceof HubUnreachableError ? 'hub unreachable' : 'poll failed');
        await sleep(delay, signal);
      }
    }
  }

  /**
   * The hub answered that another host keeps the identity this process polls with: this machine
   * is a clone of the one enrolled (an image made after enrolment), or a second copy. Asks for an
   * identity of its own, then starts over as that agent: the spool's results are dropped (taken
   * under the shared identity; a copied spool holds the other host's too), the configuration is
   * the new agent's (fetched next), and its start-up runs run again. A hub that cannot give one
   * (the enrolment token used up or expired) is asked again in ten minutes, and the results wait
   * in the spool meanwhile. Returns whether the agent changed identity.
   */
  private async reenrolAsClone(): Promise<boolean> {
    if (Date.now() < this.reenrolRefusedUntil) return false;
    this.logger.warn({ boot: this.boot }, 'another host polls with this identity and keeps it (this machine is a clone of it): enrolling with an identity of its own');
    let answer: EnrolResponse;
    try {
      answer = await this.hub.reenrol({ boot: this.boot, ...(await this.hostToEnrol()) });
    } catch (error) {
      if (!(error instanceof HubError) || error.transient || error.status === 401) throw error; // the poll loop's backoff, or stop
      this.reenrolRefusedUntil = Date.now() + CLONE_RETRY_MS;
      this.logger.error({ status: error.status, code: error.code, err: error.message, retryInMs: CLONE_RETRY_MS }, 'the hub could not give this clone an identity of its own; results wait in the spool');
      return false;
    }
    // From here nothing of the shared identity is run or queued (its trackers, its schedule, the runs asked of it).
    this.generation += 1;
    this.askedRuns.forget();
    this.config = undefined;
    this.schedule = new LocalSchedule();
    await this.uploader!.halt();
    await this.hostReport; // a report on its way under the shared identity is not taken for this one's
    const dropped = await this.spool!.discardAll();
    const identity = this.identityOf(answer);
    await this.state.writeIdentity(identity);
    this.hub.useCredentials(identity);
    this.reportedHostname = undefined;
    this.uploader = new ResultUploader(this.spool!, this.hub, this.logger, (error) => this.stopFatally(error));
    this.logger.info({ agentId: identity.agentId, deviceId: identity.deviceId, site: identity.site, groups: answer.groups, droppedFromSpool: dropped }, 'agent enrolled as a clone, with an identity of its own');
    return true;
  }

  /** How this host enrols: its name (with the configured prefix and suffix), OS and abilities. */
  private async hostToEnrol(): Promise<Omit<EnrolRequest, 'token'>> {
    const { hostname: host, os } = await this.host();
    return { name: `${this.settings.namePrefix}${host}${this.settings.nameSuffix}`, hostname: host, os, version: this.version, scanner: this.settings.scanner, features: [...AGENT_FEATURES] };
  }

  private identityOf(answer: EnrolResponse): AgentIdentity {
    return { agentId: answer.agentId, secret: answer.secret, deviceId: answer.deviceId, site: answer.site, hubUrl: this.settings.hubUrl, enrolledAt: new Date().toISOString() };
  }

  /** The host this process runs on. */
  private async host(): Promise<Omit<AgentHostReport, 'boot'>> {
    return { hostname: hostname(), os: { platform: process.platform, release: release(), description: await describeOs() } };
  }

  /**
   * Tells the hub the host this boot runs on (an upgraded system, a renamed host, and two
   * processes sharing this identity show there), beside the polls and never in their way: once a
   * boot, and again when the host is renamed. A failure that may pass (the hub away, busy) is
   * tried again at the next turn of the poll loop; a hub that does not know the call (an older
   * one), or refuses the report, is not asked again until the host is renamed.
   */
  private reportHostIfNeeded(signal: AbortSignal): void {
    if (this.hostReport || this.reportedHostname === hostname()) return;
    this.hostReport = this.host()
      .then(async (host) => {
        try {
          await this.hub.reportHost({ boot: this.boot, ...host }, signal);
          this.logger.debug({ hostname: host.hostname, os: host.os.description ?? host.os.release }, 'host reported');
        } catch (error) {
          if (!(error instanceof HubError) || error.transient) throw error;
          if (error.status === 401) return this.stopFatally(error);
          this.logger.warn({ status: error.status, err: error.message }, 'the hub did not take the host report; not sent again until the host is renamed');
        }
        this.reportedHostname = host.hostname;
      })
      .catch((error: Error) => this.logger.debug({ err: error.message }, 'host not reported; tried again with the next poll'))
      .finally(() => (this.hostReport = undefined));
  }

  private async scheduleLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !this.fatal) {
      const trackers = this.config?.trackers ?? [];
      for (const tracker of this.schedule.takeDue(trackers, new Date())) {
        this.enqueue(tracker, randomUUID(), tracker.schedule.kind === 'at-agent-startup' ? 'agent-startup' : 'schedule');
      }
      await sleep(Math.min(TICK_MS, this.schedule.msUntilNext(new Date(), TICK_MS)) || TICK_MS, signal);
    }
  }

  /** A run the hub asked for (`manual`): queued, or not (`AskedRuns`). Returns true when the configuration is to be fetched first. */
  private takeRun(job: AgentJob): boolean {
    return this.actOn(job, this.askedRuns.take(job, (jobId) => this.spool!.holds(jobId), this.config?.trackers ?? []));
  }

  /** The runs asked of trackers the configuration just applied may have. */
  private takeRunsAwaitingConfig(): void {
    const { decided, unknown } = this.askedRuns.afterConfig((jobId) => this.spool!.holds(jobId), this.config?.trackers ?? []);
    for (const { job, decision } of decided) this.actOn(job, decision);
    for (const job of unknown) this.logger.warn({ jobId: job.jobId, trackerId: job.trackerId }, "a run was asked of a tracker that is not in this agent's configuration; not run");
  }

  private actOn(job: AgentJob, decision: AskedRunDecision): boolean {
    if (decision.kind === 'run') this.enqueue(decision.tracker, job.jobId, 'manual');
    else if (decision.kind === 'skip' && decision.why === 'spooled') this.logger.info({ jobId: job.jobId, trackerId: job.trackerId }, 'run asked again; its result is already in the spool, to be uploaded');
    return decision.kind === 'await-config';
  }

  /**
   * Runs are done one at a time, in the order they became due, each with its tracker as the
   * configuration has it when its turn comes: a tracker the hub disabled (or took away) since is
   * not run (the hub failed the runs asked of it), one it edited runs with its new settings.
   */
  private enqueue(due: AgentTracker, jobId: string, trigger: RunTrigger): void {
    const generation = this.generation;
    this.queue = this.queue.then(async () => {
      if (this.fatal || generation !== this.generation) return;
      const tracker = this.config?.trackers.find((t) => t.id === due.id);
      if (!tracker) return this.logger.info({ trackerId: due.id, jobId, trigger }, 'run not started: its tracker is no longer in the configuration');
      const log = this.logger.child({ trackerId: tracker.id, jobId, mode: tracker.mode, trigger });
      const startedAt = new Date().toISOString();
      // Best effort: the scan-started event; the result carries the start time anyway.
      await this.hub.scanStarted({ jobId, trackerId: tracker.id, trigger, startedAt }).catch((error: Error) => log.debug({ err: error.message }, 'scan start not reported'));
      const progress = new ProgressReporter(
        (p) => this.hub.scanProgress({ jobId, trackerId: tracker.id, ...p }),
        (error) => log.debug({ err: error instanceof Error ? error.message : String(error) }, 'scan progress not reported'),
        this.settings.progressSeconds * 1000,
      );
      const result = await this.runner.run(tracker, jobId, trigger, undefined, (p) => progress.report(p)).finally(() => progress.stop());
      if (generation !== this.generation) return log.info({}, 'run finished under the identity this process had before; not kept');
      log.info({ status: result.status, hosts: result.hosts.length, ports: result.hosts.reduce((n, h) => n + h.ports.length, 0), error: result.error?.message }, 'run finished');
      await this.uploader!.submit(result);
    });
    this.queue = this.queue.catch((error: Error) => this.logger.error({ err: error.message }, 'run could not be recorded'));
  }

  private applyConfig(config: AgentConfig | undefined, source: 'cached' | 'hub'): void {
    if (!config) return;
    this.learnPins(config.hubPins, source);
    this.config = config;
    this.schedule.update(config.trackers, new Date());
    this.logger.info({ source, configVersion: config.configVersion, trackers: config.trackers.length }, 'configuration applied');
  }

  /** Trusts the hub certificates it announced (besides the configured pins), if the agent pins the hub. */
  private learnPins(announced: readonly string[], source: 'cached' | 'hub'): void {
    if (!this.pins) return;
    const { added, dropped } = this.pins.learn(announced);
    if (added.length || dropped.length) this.logger.info({ source, added, dropped }, 'hub certificate pins updated');
  }

  private stopFatally(error: Error): void {
    if (this.fatal) return;
    const message = error instanceof HubError && error.status === 401 ? `the hub refused this agent's credentials (${error.message}); revoked or rotated elsewhere — enrol again` : error.message;
    this.fatal = new AgentFatalError(message);
    this.logger.fatal({ err: message }, 'agent stopping');
  }

  private async retrying<T>(what: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof HubUnreachableError) && !(error instanceof HubError && error.transient)) throw error;
        if (signal?.aborted) throw error;
        const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(5, attempt - 1));
        this.logger.warn({ err: error.message, retryInMs: delay }, `${what}: hub unreachable`);
        await sleep(delay, signal);
      }
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
