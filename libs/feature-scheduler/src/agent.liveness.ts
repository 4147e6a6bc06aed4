import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus } from '@portolan/bus';
import { Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { ScanJobEntity } from '@portolan/persistence';
import { AGENT_DUPLICATE_WINDOW_MS, agentEvent, BUS, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/**
 * The leader's watch over agents: an online agent that missed its heartbeats (every long-poll
 * is one) goes offline with a communications event, a run asked of an agent that never
 * picked it up fails with the reason, and an agent flagged as polled by two processes is cleared
 * once only one has polled for a while.
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

  async failUnpickedRuns(now: Date): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.agentPickupTimeoutMs);
    const stale: { id: string }[] = await this.db.query(`SELECT id FROM scan_jobs WHERE agent_id IS NOT NULL AND status = 'pending' AND requested_at < $1 LIMIT 200`, [cutoff]);
    let failed = 0;
    for (const { id } of stale) {
      const rows = await this.db.transaction(async (manager) => {
        const job = await this.ledger.lockJob(manager, id);
        if (!job || job.status !== 'pending') return [];
        failed += 1;
        return this.ledger.failJob(manager, job as ScanJobEntity, 'timed out: the agent did not pick the run up (offline or revoked?)', now);
      });
      await this.events.announce(rows);
    }
    if (failed) this.logger.warn({ runs: failed }, 'agent runs timed out before pickup');
    return failed;
  }
}
