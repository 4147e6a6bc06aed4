import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { AgentJob, AgentPollQuery, AgentPollResponse, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';
import { AgentClock } from './agent-clock';
import { AuthenticatedAgent } from './agent.directory';
import { AgentConfigService } from './agent-config.service';
import { AgentHeartbeats } from './agent-heartbeats';

/** Runs handed over in one answer, at most. */
const CLAIM_LIMIT = 20;
/** How often pending runs are looked for in the database, in case a wake-up was lost. */
const PENDING_SWEEP_MS = 2_000;
/**
 * A run a process picked up and has not started is handed to it again after this long, in case
 * the answer that carried it was lost (a connection cut after the claim, by a proxy that times out
 * long polls, say). The agent queues a run once (`AskedRuns`), so one that is waiting its turn
 * behind a long scan is not run twice.
 */
export const REOFFER_AFTER_MS = 120_000;

/**
 * The agent's long-poll, which is also its heartbeat (`AgentHeartbeats`): it hands over runs
 * asked of the agent and otherwise waits up to `wait` seconds for a wake-up (a run asked,
 * configuration changed) that any replica may publish. A steady poll asks nothing of the
 * database: the credentials are cached, the heartbeat is written with the others once a
 * second, the configuration version comes back with it, and runs are claimed only for an
 * agent that may have some: one woken up, polling for the first time here, or seen pending by
 * the sweep every few seconds that covers a lost wake-up.
 *
 * A claimed run (`queued`) lives only in the memory of the agent process that claimed it until it
 * starts: when another process of the agent polls (a restart, or the keeper of an identity a
 * clone shared), the runs claimed but not started by an earlier one are handed to it with the
 * pending ones (`claimed_boot`), so a restart never strands a run asked of the agent. The same
 * process is handed a run it has not started again every `REOFFER_AFTER_MS`, so an answer lost on
 * the way does not strand it either.
 */
@Injectable()
export class AgentPollService implements OnModuleInit, OnModuleDestroy {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Agents that may have pending runs. */
  private readonly hints = new Set<string>();
  /** Agents this replica has claimed runs for since it started, with the boot (process) it claimed them for last. */
  private readonly claimedFor = new Map<string, string>();
  /** Older clones' polls held for their long poll (`answerClone`): answered at once when the gateway stops. */
  private readonly heldClones = new Set<() => void>();
  private subscription?: ConsumerHandle;
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly heartbeats: AgentHeartbeats,
    private readonly config: AgentConfigService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.heartbeats.onCloneFound((agentId) => this.release(agentId));
    this.subscription = await this.bus.subscribe(Messages.agentJobAvailable, (envelope) => this.wake(envelope.payload.agentId, envelope.payload.reason));
    this.sweepTimer = setInterval(() => void this.sweepPending(), PENDING_SWEEP_MS);
    this.sweepTimer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.subscription?.stop();
    for (const agentId of [...this.waiters.keys()]) this.release(agentId);
    for (const done of [...this.heldClones]) done();
  }

  /** Tells the replica holding the agent's poll (this one or another) to answer it now. */
  notify(agentId: string, reason: 'job' | 'config'): void {
    this.wake(agentId, reason);
    this.bus.emit(Messages.agentJobAvailable, { agentId, reason });
  }

  /**
   * `saysBoot`: the caller said its boot (`X-Portolan-Agent-Boot`), as agents that know how to
   * re-enrol as a clone do.
   */
  async poll(agent: AuthenticatedAgent, query: AgentPollQuery, clock: AgentClock, closed: Promise<void>, saysBoot: boolean): Promise<AgentPollResponse> {
    const { clone } = await this.heartbeats.seen(agent, query, clock);
    // A clone gets no runs (they are the other host's): it is to re-enrol first. One that knows
    // how is answered at once; an older agent waits out its long poll, as it always did.
    if (clone) return this.answerClone(agent.id, saysBoot ? 0 : query.wait, closed);
    let jobs = await this.claimIfHinted(agent.id, query.boot);
    if (!jobs.length && query.wait > 0) {
      const stillThere = await this.waitForWork(agent.id, query.wait * 1000, closed);
      if (this.heartbeats.isClone(agent, query.boot)) return this.answerClone(agent.id, 0, closed);
      // Runs are not claimed for a caller that went away: they would be its process's, never handed to it again.
      if (stillThere) jobs = await this.claimIfHinted(agent.id, query.boot);
    }
    return { configVersion: await this.configVersion(agent.id), jobs };
  }

  /**
   * A clone's answer, after `waitSeconds` that nothing cuts short but the caller going away. The
   * runs the clone picked up before it was found out are not run by it: the keeper's next poll,
   * at whichever replica, is woken to pick them up (`notify`).
   */
  private async answerClone(agentId: string, waitSeconds: number, closed: Promise<void>): Promise<AgentPollResponse> {
    this.notify(agentId, 'job');
    if (waitSeconds > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.heldClones.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitSeconds * 1000);
        this.heldClones.add(done);
        void closed.then(done);
      });
    }
    return { configVersion: await this.configVersion(agentId), jobs: [], clone: true };
  }

  get waiting(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }

  private async configVersion(agentId: string): Promise<number> {
    const cached = this.heartbeats.configVersion(agentId);
    if (cached !== undefined) return cached;
    const version = await this.config.configVersion(agentId);
    this.heartbeats.rememberConfigVersion(agentId, version);
    return version;
  }

  /**
   * The runs for this process of the agent (`boot`): its pending runs, those an earlier process
   * of it claimed and never started, and those it claimed itself `REOFFER_AFTER_MS` ago or more
   * and has not started. Asked of the database only when there may be some: woken up (by a run
   * asked, or by the sweep), or a process this replica has not claimed for yet.
   */
  private async claimIfHinted(agentId: string, boot: string): Promise<AgentJob[]> {
    if (this.claimedFor.get(agentId) === boot && !this.hints.has(agentId)) return [];
    this.hints.delete(agentId); // a wake-up while the claim runs hints again
    let rows: { id: string; tracker_id: string }[];
    try {
      // Runs claimed before boots were recorded (`claimed_boot` null) are taken by any process.
      [rows] = await this.db.query(
        `UPDATE scan_jobs SET status = 'queued', claimed_boot = $2, claimed_at = now() WHERE id IN (
           SELECT id FROM scan_jobs
            WHERE agent_id = $1 AND (status = 'pending' OR (status = 'queued' AND (claimed_boot IS DISTINCT FROM $2 OR claimed_at <= now() - make_interval(secs => $3))))
            ORDER BY requested_at LIMIT ${CLAIM_LIMIT} FOR UPDATE SKIP LOCKED)
         RETURNING id, tracker_id`,
        [agentId, boot, REOFFER_AFTER_MS / 1000],
      );
    } catch (error) {
      this.hints.add(agentId); // claimed at the next poll instead
      throw error;
    }
    this.claimedFor.set(agentId, boot);
    if (rows.length >= CLAIM_LIMIT) this.hints.add(agentId); // there may be more
    return rows.map((row) => ({ jobId: row.id, trackerId: row.tracker_id, trigger: 'manual' as const }));
  }

  /**
   * Agents polling here with pending runs, whatever their wake-up became, or with runs claimed
   * `REOFFER_AFTER_MS` ago and not started: hinted, and their polls answered.
   */
  private async sweepPending(): Promise<void> {
    if (!this.claimedFor.size) return;
    try {
      const rows: { agent_id: string }[] = await this.db.query(
        `SELECT DISTINCT agent_id FROM scan_jobs
          WHERE agent_id IS NOT NULL AND (status = 'pending' OR (status = 'queued' AND claimed_at <= now() - make_interval(secs => $1)))`,
        [REOFFER_AFTER_MS / 1000],
      );
      for (const { agent_id } of rows) if (this.claimedFor.has(agent_id) && !this.hints.has(agent_id)) this.wake(agent_id, 'job');
    } catch (error) {
      this.logger.warn({ err: String(error) }, 'could not look for pending agent runs; will retry');
    }
  }

  /** Resolves when woken or after `ms`, with true; with false when the caller went away first. */
  private waitForWork(agentId: string, ms: number, closed: Promise<void>): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const set = this.waiters.get(agentId) ?? new Set<() => void>();
      this.waiters.set(agentId, set);
      const done = (stillThere = true) => {
        clearTimeout(timer);
        set.delete(wake);
        if (!set.size) this.waiters.delete(agentId);
        resolve(stillThere);
      };
      const wake = () => done();
      const timer = setTimeout(wake, ms);
      set.add(wake);
      void closed.then(() => done(false));
    });
  }

  private wake(agentId: string, reason: 'job' | 'config'): void {
    if (reason === 'job') this.hints.add(agentId);
    else this.heartbeats.configChanged(agentId);
    this.release(agentId);
  }

  private release(agentId: string): void {
    for (const done of [...(this.waiters.get(agentId) ?? [])]) done();
  }
}
