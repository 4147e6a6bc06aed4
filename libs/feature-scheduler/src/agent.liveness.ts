import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Logger } from '@portolan/logging';
import { ScanJobEntity } from '@portolan/persistence';
import { DATA_SOURCE, EventRecorder, LOGGER, NewEvent, ScanJobLedger } from '@portolan/platform';
import { SCHEDULER_CONFIG, SchedulerConfig } from './scheduler.options';

/**
 * The leader's watch over agents: an online agent that missed its heartbeats (every long-poll
 * is one) goes offline with a communications event, and a run asked of an agent that never
 * picked it up fails with the reason.
 */
@Injectable()
export class AgentLiveness {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
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
      const events: NewEvent[] = gone.map((agent) => ({
        kind: 'communications',
        deviceId: agent.device_id,
        trackerId: null,
        jobId: null,
        occurredAt: now,
        details: { what: 'agent-offline', agentId: agent.id, agent: agent.name, lastSeenAt: new Date(agent.last_seen_at).toISOString(), thresholdMs: this.config.agentOfflineAfterMs },
      }));
      return this.events.insert(manager, events);
    });
    await this.events.announce(rows);
    if (rows.length) this.logger.warn({ agents: rows.length }, 'agents went offline');
    return rows.length;
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
