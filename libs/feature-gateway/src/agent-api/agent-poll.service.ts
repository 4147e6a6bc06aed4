import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { AgentJob, AgentPollQuery, AgentPollResponse, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BUS, DATA_SOURCE, EventRecorder, LOGGER } from '@portolan/platform';
import { AuthenticatedAgent } from './agent.directory';
import { AgentConfigService } from './agent-config.service';

/**
 * The agent's long-poll, which is also its heartbeat: it records that the agent was seen (with
 * its version, boot and spool depth; an agent that was not online comes online with a
 * communications event), hands over runs asked of it, and otherwise waits up to `wait`
 * seconds for a wake-up (a run asked, configuration changed) that any replica may publish.
 */
@Injectable()
export class AgentPollService implements OnModuleInit, OnModuleDestroy {
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscription?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly config: AgentConfigService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.agentJobAvailable, (envelope) => this.wake(envelope.payload.agentId));
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
    for (const agentId of [...this.waiters.keys()]) this.wake(agentId);
  }

  /** Tells the replica holding the agent's poll (this one or another) to answer it now. */
  notify(agentId: string, reason: 'job' | 'config'): void {
    this.wake(agentId);
    this.bus.emit(Messages.agentJobAvailable, { agentId, reason });
  }

  async poll(agent: AuthenticatedAgent, query: AgentPollQuery, closed: Promise<void>): Promise<AgentPollResponse> {
    await this.heartbeat(agent, query);
    let jobs = await this.claimJobs(agent.id);
    const known = await this.config.configVersion(agent.id);
    if (!jobs.length && query.wait > 0) {
      await this.waitForWork(agent.id, query.wait * 1000, closed);
      jobs = await this.claimJobs(agent.id);
    }
    const configVersion = jobs.length || query.wait === 0 ? known : await this.config.configVersion(agent.id);
    return { configVersion, jobs };
  }

  get waiting(): number {
    let count = 0;
    for (const set of this.waiters.values()) count += set.size;
    return count;
  }

  private async heartbeat(agent: AuthenticatedAgent, query: AgentPollQuery): Promise<void> {
    const [rows]: [{ previous: string; previous_boot: string | null }[], number] = await this.db.query(
      `UPDATE agents a SET last_seen_at = now(), status = 'online', boot_id = $2, version = $3, spool_entries = $4, spool_dropped = $5
         FROM (SELECT status, boot_id FROM agents WHERE id = $1 FOR UPDATE) old
        WHERE a.id = $1 AND a.status <> 'revoked'
        RETURNING old.status AS previous, old.boot_id AS previous_boot`,
      [agent.id, query.boot, query.version, query.spoolEntries, query.spoolDropped],
    );
    const row = rows[0];
    if (!row || row.previous === 'online') return;
    const recorded = await this.db.transaction((manager) =>
      this.events.insert(manager, [
        {
          kind: 'communications',
          deviceId: agent.deviceId,
          trackerId: null,
          jobId: null,
          occurredAt: new Date(),
          details: { what: 'agent-online', agentId: agent.id, agent: agent.name, version: query.version, previousStatus: row.previous, restarted: row.previous_boot !== query.boot },
        },
      ]),
    );
    await this.events.announce(recorded);
    this.logger.info({ agentId: agent.id, previous: row.previous }, 'agent online');
  }

  private async claimJobs(agentId: string): Promise<AgentJob[]> {
    const [rows]: [{ id: string; tracker_id: string }[], number] = await this.db.query(
      `UPDATE scan_jobs SET status = 'queued' WHERE id IN (
         SELECT id FROM scan_jobs WHERE agent_id = $1 AND status = 'pending' ORDER BY requested_at LIMIT 20 FOR UPDATE SKIP LOCKED)
       RETURNING id, tracker_id`,
      [agentId],
    );
    return rows.map((row) => ({ jobId: row.id, trackerId: row.tracker_id, trigger: 'manual' as const }));
  }

  private waitForWork(agentId: string, ms: number, closed: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const set = this.waiters.get(agentId) ?? new Set<() => void>();
      this.waiters.set(agentId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (!set.size) this.waiters.delete(agentId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      void closed.then(done);
    });
  }

  private wake(agentId: string): void {
    for (const done of [...(this.waiters.get(agentId) ?? [])]) done();
  }
}
