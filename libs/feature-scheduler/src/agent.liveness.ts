import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanJobEntity } from '@portolan/persistence';
import { AGENT_DUPLICATE_WINDOW_MS, agentEvent, BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/**
 * The leader's watch over agents: an online agent that missed its heartbeats (every long-poll
 * is one) goes offline with a communications event, a run asked of an agent that never picked
 * it up, or started and will not finish, fails with the reason, and an agent flagged as polled
 * by two processes is cleared once only one has polled for a while.
 */
@Injectable()
export class AgentLiveness {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_CONFIG) private readonly config: SchedulerConfig,
    private readonly ledger: ScanJobLedger,
    private readonly events: EventRecorder,
  ) {}

  async markOffline(now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.agentOfflineAfterMs);
    const rows = await this.db.transaction(async (manager) => {
      const [gone]: [{ id: string; device_id: string; name: string; last_seen_at: Date }[], number] = await manager.query(
        `UPDATE agents SET status = 'offline' WHERE status = 'online' AND last_seen_at < $1 RETURNING id, device_id, name, last_seen_at`,
        [cutoff],
      );
      const events = gone.map((agent) =>
        agentEvent({ id: agent.id, name: agent.name, deviceId: agent.device_id }, now, 'agent-offline', { lastSeenAt: new Date(agent.last_seen_at).toISOString(), thresholdMs: this.config.agentOfflineAfterMs }),
      );
      return this.events.insert(manager, events);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ agents: rows.length }, 'agents went offline');
    return rows.length;
  }

  /**
   * Clears the agents flagged duplicated (`agent-duplicated`) whose earlier boots have not come back
   * for `AGENT_DUPLICATE_WINDOW_MS`: one process polls as each of them again (`agent-duplicate-resolved`).
   */
  async clearDuplicates(now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - AGENT_DUPLICATE_WINDOW_MS);
    const { ids, recorded } = await this.db.transaction(async (manager) => {
      const [cleared]: [{ id: string; device_id: string; name: string; duplicated_at: Date; boot_id: string | null; hostname: string }[], number] = await manager.query(
        `UPDATE agents a SET duplicated_at = NULL, duplicate_kept_boot = NULL, duplicate_kept_seen_at = NULL, duplicate_contested_at = NULL, boot_returns = 0, duplicate_changed_at = $2
           FROM (SELECT id, duplicated_at FROM agents WHERE duplicated_at IS NOT NULL AND boot_returned_at < $1 FOR UPDATE) old
          WHERE a.id = old.id
          RETURNING a.id, a.device_id, a.name, old.duplicated_at, a.boot_id, a.hostname`,
        [cutoff, now],
      );
      const events = cleared.map((agent) =>
        agentEvent({ id: agent.id, name: agent.name, deviceId: agent.device_id }, now, 'agent-duplicate-resolved', {
          duplicatedAt: new Date(agent.duplicated_at).toISOString(),
          boot: agent.boot_id,
          hostname: agent.hostname,
        }),
      );
      return { ids: cleared.map((agent) => agent.id), recorded: await this.events.insert(manager, events) };
    });
    // Every gateway replica takes their results again from now (a replica that misses this reads it within a minute).
    for (const agentId of ids) this.bus.emit(Messages.agentCredentialsChanged, { agentId, reason: 'duplicate-resolved' });
    await this.events.announce(recorded);
    if (ids.length) this.logger.info({ agents: ids.length }, 'agents polled by one process again');
    return ids.length;
  }

  /**
   * Has each online agent whose configuration left a tracker out (`config_incomplete_at`: a host
   * name that did not resolve, an address outside the scope guard) fetch it again once
   * `agentConfigRetryMs` has passed: a new version, and every gateway told, so its poll is
   * answered with it. Before, a tracker left out for a passing reason (a DNS outage while the
   * configuration was built) stayed out, unscanned, until the next edit of the agent's trackers.
   */
  async retryIncompleteConfigs(): Promise<number> {
    // On the database's clock, which stamped the mark: a scheduler whose clock runs ahead must not ask again at every tick.
    const [agents]: [{ id: string }[], number] = await this.db.query(
      `UPDATE agents SET config_version = config_version + 1, config_incomplete_at = NULL
        WHERE config_incomplete_at < now() - $1 * interval '1 millisecond' AND status = 'online' RETURNING id`,
      [this.config.agentConfigRetryMs],
    );
    for (const { id } of agents) this.bus.emit(Messages.agentJobAvailable, { agentId: id, reason: 'config' });
    if (agents.length) this.logger.info({ agents: agents.length }, 'agents whose configuration left trackers out asked to fetch it again');
    return agents.length;
  }

  /**
   * Fails the runs asked of agents that no process of the agent will run (`unstartedRunReason`).
   * A run picked up by a process that is gone while the agent polls on is picked up again by
   * the agent's next process (the gateway's claim), not failed.
   */
  async failUnpickedRuns(now: Date): Promise<number> {
    const cutoffs = { pickup: new Date(now.getTime() - this.config.agentPickupTimeoutMs), start: new Date(now.getTime() - this.config.agentStartTimeoutMs) };
    const stale: { id: string }[] = await this.db.query(
      `SELECT j.id FROM scan_jobs j LEFT JOIN agents a ON a.id = j.agent_id
        WHERE j.agent_id IS NOT NULL AND j.status IN ('pending', 'queued')
          AND (j.status = 'pending' AND j.requested_at < $1
            OR j.status = 'queued' AND (j.requested_at < $2
              OR coalesce(j.claimed_at, j.requested_at) < $1 AND (a.id IS NULL OR a.status = 'revoked' OR a.last_seen_at IS NULL OR a.last_seen_at < $1)))
        LIMIT 200`,
      [cutoffs.pickup, cutoffs.start],
    );
    const failed = await this.failRuns(stale, now, UNSTARTED_RUN_ERRORS, async (manager, agentId, job) => {
      // Decided again under the job's lock: it may have started, or been picked up by a new process, since it was read.
      const [agent]: { status: string; last_seen_at: Date | null }[] = await manager.query(`SELECT status, last_seen_at FROM agents WHERE id = $1`, [agentId]);
      return unstartedRunReason(job, agent ? { status: agent.status, lastSeenAt: agent.last_seen_at } : undefined, cutoffs);
    });
    const total = failed.pickup + failed.gone + failed.start;
    if (total) this.logger.warn({ runs: total, notPickedUp: failed.pickup, agentGone: failed.gone, notStarted: failed.start }, 'agent runs timed out before they started');
    return total;
  }

  /**
   * Fails the runs agents started that no process will finish (`unfinishedRunReason`): before,
   * a run whose agent restarted mid-scan stayed `running` for good. A result that comes after
   * all (from a spool) reopens the run (the gateway's upload ingest).
   */
  async failUnfinishedRuns(now: Date): Promise<number> {
    const cutoffs = { pickup: new Date(now.getTime() - this.config.agentPickupTimeoutMs), result: new Date(now.getTime() - this.config.agentResultTimeoutMs) };
    // The partial index scan_jobs_agent_running_idx holds the agents' running runs; those without a result have no chunk yet (it comes with the result).
    // A pre-filter of unfinishedRunReason (which decides, under the job's lock).
    const stale: { id: string }[] = await this.db.query(
      `SELECT j.id FROM scan_jobs j
         CROSS JOIN LATERAL (SELECT coalesce(greatest(j.started_at, j.progress_at), j.requested_at) AS at) heard
         LEFT JOIN agents a ON a.id = j.agent_id
         LEFT JOIN agent_boots b ON b.agent_id = a.id AND b.boot_id = a.boot_id
        WHERE j.agent_id IS NOT NULL AND j.status = 'running' AND j.chunk_count = 0
          AND (heard.at < $2
            OR heard.at < $1 AND (a.id IS NULL OR a.status = 'revoked')
            OR j.claimed_boot IS NOT NULL AND a.duplicated_at IS NULL AND a.boot_id IS DISTINCT FROM j.claimed_boot AND a.spool_entries = 0
               AND b.first_seen_at < $1 AND b.first_seen_at > heard.at)
        LIMIT 200`,
      [cutoffs.pickup, cutoffs.result],
    );
    const failed = await this.failRuns(stale, now, UNFINISHED_RUN_ERRORS, async (manager, agentId, job) => {
      // Decided again under the job's lock: its result may have come, or its process polled again, since it was read.
      const [agent]: { status: string; boot_id: string | null; duplicated_at: Date | null; spool_entries: number; first_seen_at: Date | null }[] = await manager.query(
        `SELECT a.status, a.boot_id, a.duplicated_at, a.spool_entries, b.first_seen_at FROM agents a LEFT JOIN agent_boots b ON b.agent_id = a.id AND b.boot_id = a.boot_id WHERE a.id = $1`,
        [agentId],
      );
      const view = agent && { status: agent.status, bootId: agent.boot_id, bootFirstSeenAt: agent.first_seen_at, duplicated: agent.duplicated_at !== null, spoolEntries: agent.spool_entries };
      return unfinishedRunReason(job, view, cutoffs);
    });
    const total = failed.replaced + failed.revoked + failed.silent;
    if (total) this.logger.warn({ runs: total, processReplaced: failed.replaced, agentRevoked: failed.revoked, nothingHeard: failed.silent }, 'agent runs timed out before their results');
    return total;
  }

  /**
   * Fails, one transaction each, those of the agent runs `stale` for which `decide` gives a reason
   * (under the job's lock), with the reason's error and the `scan-failed` event; counts by reason.
   */
  private async failRuns<R extends string>(
    stale: readonly { id: string }[],
    now: Date,
    errors: Record<R, string>,
    decide: (manager: EntityManager, agentId: string, job: ScanJobEntity) => Promise<R | undefined>,
  ): Promise<Record<R, number>> {
    const failed = Object.fromEntries(Object.keys(errors).map((reason) => [reason, 0])) as Record<R, number>;
    for (const { id } of stale) {
      const rows = await this.db.transaction(async (manager) => {
        const job = await this.ledger.lockJob(manager, id);
        const reason = job?.agentId ? await decide(manager, job.agentId, job) : undefined;
        if (!job || !reason) return [];
        failed[reason] += 1;
        return this.ledger.failJob(manager, job, errors[reason], now);
      });
      await this.events.announce(rows);
    }
    return failed;
  }
}

export type UnfinishedRunReason = 'replaced' | 'revoked' | 'silent';

/**
 * Why a run an agent started (`running`, no result yet: no chunk) is to fail, if it is. "Heard"
 * is the later of its start and its last progress report (only the process running it reports).
 * - `replaced`: the process that started it (`claimedBoot`, from its scan-start report) is no
 *   longer the agent's: a process first seen after the run was last heard of has polled for the
 *   pickup timeout, its spool empty, without sending the result (an agent does not resume a run
 *   it was stopped in). A boot seen before that is no proof: a new process starts its first runs
 *   before its first poll, and a late poll of an old one can come after. Not for an agent
 *   flagged as two processes (`agent-duplicated`): its boot alternates between them;
 * - `revoked`: the agent was revoked or deleted, and the run not heard of for the pickup timeout
 *   (its result would be refused);
 * - `silent`: not heard of for the result timeout, whatever the agent does: cut off from the hub,
 *   an agent keeps its results in its spool. A network scan may rightly run longer than that
 *   (the agent's scan timeout grows with hosts × ports); while it runs it reports its progress.
 */
export function unfinishedRunReason(
  job: Pick<ScanJobEntity, 'status' | 'chunkCount' | 'startedAt' | 'requestedAt' | 'claimedBoot' | 'progressAt'>,
  agent: { status: string; bootId: string | null; bootFirstSeenAt: Date | null; duplicated: boolean; spoolEntries: number } | undefined,
  cutoffs: { pickup: Date; result: Date },
): UnfinishedRunReason | undefined {
  if (job.status !== 'running' || job.chunkCount > 0) return undefined;
  const heard = Math.max(job.startedAt?.getTime() ?? job.requestedAt.getTime(), job.progressAt?.getTime() ?? 0);
  if (heard < cutoffs.result.getTime()) return 'silent';
  if (!agent || agent.status === 'revoked') return heard < cutoffs.pickup.getTime() ? 'revoked' : undefined;
  const newer = agent.bootFirstSeenAt !== null && agent.bootFirstSeenAt.getTime() > heard && agent.bootFirstSeenAt < cutoffs.pickup;
  return newer && !agent.duplicated && job.claimedBoot !== null && agent.bootId !== job.claimedBoot && agent.spoolEntries === 0 ? 'replaced' : undefined;
}

/** Why `failUnfinishedRuns` failed a run, as its error says. */
const UNFINISHED_RUN_ERRORS: Record<UnfinishedRunReason, string> = {
  replaced: 'timed out: the agent process that started the run was replaced (a restart) before sending its result; the process after it has not sent it',
  revoked: 'timed out: the agent was revoked (or deleted) before sending the result of the run',
  silent: 'timed out: the agent started the run and nothing has been heard of it (progress, result) within the result timeout',
};

export type UnstartedRunReason = 'pickup' | 'gone' | 'start';

/**
 * Why a run asked of an agent is to fail before it started, if it is:
 * - `pickup`: still pending (no process of the agent picked it up) past the pickup timeout;
 * - `gone`: picked up (`queued`) past the pickup timeout since its last pickup, by an agent not
 *   heard from for the whole pickup timeout, or revoked, or deleted;
 * - `start`: picked up and not started past the start timeout since it was asked, though the
 *   agent polls on (its runs go one at a time; a process that dies before starting it, again
 *   and again, is bounded by this too).
 */
export function unstartedRunReason(
  job: Pick<ScanJobEntity, 'status' | 'requestedAt' | 'claimedAt'>,
  agent: { status: string; lastSeenAt: Date | null } | undefined,
  cutoffs: { pickup: Date; start: Date },
): UnstartedRunReason | undefined {
  if (job.status === 'pending') return job.requestedAt < cutoffs.pickup ? 'pickup' : undefined;
  if (job.status !== 'queued') return undefined;
  if (job.requestedAt < cutoffs.start) return 'start';
  const silent = !agent || agent.status === 'revoked' || !agent.lastSeenAt || agent.lastSeenAt < cutoffs.pickup;
  return (job.claimedAt ?? job.requestedAt) < cutoffs.pickup && silent ? 'gone' : undefined;
}

/** Why `failUnpickedRuns` failed a run, as its error says. */
const UNSTARTED_RUN_ERRORS: Record<UnstartedRunReason, string> = {
  pickup: 'timed out: the agent did not pick the run up (offline or revoked?)',
  gone: 'timed out: the agent picked the run up, then went offline (or was revoked) before starting it',
  start: 'timed out: the agent picked the run up and has not started it (its other runs take that long?)',
};
