import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { AgentHostReport } from '@portolan/contracts';
import { EventEntity } from '@portolan/persistence';
import { Logger } from '@portolan/logging';
import { AGENT_DUPLICATE_WINDOW_MS, agentEvent, DATA_SOURCE, EventRecorder, LOGGER } from '@portolan/platform';
import { AgentDirectory, AuthenticatedAgent } from './agent.directory';

/** Boots remembered per agent (the newest by their last poll or report). */
const BOOTS_KEPT = 8;

/** What the hub holds of an agent's host. */
export interface AgentHost {
  readonly hostname: string;
  readonly os: { readonly platform: string; readonly release: string; readonly description: string | null };
}

/** What changed between the host the hub held and the one an agent reports; undefined when nothing did. */
export function hostChanges(before: AgentHost, after: AgentHost): { hostname?: { from: string; to: string }; os?: { from: AgentHost['os']; to: AgentHost['os'] } } | undefined {
  const hostname = before.hostname !== after.hostname ? { from: before.hostname, to: after.hostname } : undefined;
  const osChanged = before.os.platform !== after.os.platform || before.os.release !== after.os.release || before.os.description !== after.os.description;
  const os = osChanged ? { from: before.os, to: after.os } : undefined;
  return hostname || os ? { ...(hostname ? { hostname } : {}), ...(os ? { os } : {}) } : undefined;
}

interface BootRow {
  boot_id: string;
  hostname: string | null;
  os_description: string | null;
  first_seen_at: Date;
  polled_at: Date | null;
}

/** A boot of one of two processes that poll as one agent. */
export interface DuplicateBoot {
  readonly boot: string;
  readonly hostname: string | null;
  readonly firstSeenAt: Date;
}

/**
 * Which of two processes polling as one agent keeps its identity: the one on the host the agent
 * ran on before either of them started (`hostBefore`, the host of the boot before them), when
 * exactly one of them runs there (a clone is usually renamed; the original restarted keeps its
 * name); otherwise the one that polled first (a machine cloned while its agent ran).
 */
export function keptBoot(boots: readonly DuplicateBoot[], hostBefore: string | null): string {
  const byAge = [...boots].sort((a, b) => a.firstSeenAt.getTime() - b.firstSeenAt.getTime());
  const there = hostBefore === null ? [] : byAge.filter((b) => b.hostname === hostBefore);
  return (there.length === 1 ? there[0] : byAge[0]).boot;
}

/**
 * An agent's boots: each start of its process has a new boot id, carried by every poll. A boot
 * that polls again after another boot has polled "returned". A restarted agent's old process is
 * gone, so each boot returns once at most (a virtual machine reverted to a snapshot, a last poll
 * that arrives late). The same boot returns twice within `AGENT_DUPLICATE_WINDOW_MS` only when two
 * processes share the identity: an image cloned after enrolment, or a second copy started by
 * hand. Both would upload their own host's ports as the same device, and the hub would report
 * each difference between the two hosts as a change at every run.
 *
 * The hub flags the agent (`duplicatedAt` in `GET /api/agents`), announces it once
 * (`agent-duplicated`, naming both boots' hosts), and holds its results (503: they wait in the
 * agents' spools) and scan-start reports (503: dropped, as any that fails; the result carries its
 * start) until one process is left. It keeps the identity with one of the two (`keptBoot`);
 * every other boot that polls again is answered `clone` and asks for an identity of its own
 * (`EnrolmentService.reenrol`).
 *
 * Each boot also reports its host (`POST /api/agent/host`): a renamed host or an upgraded system
 * updates the agent and is announced (`agent-host-changed`; so is each clone's host, as it starts).
 * A boot that returns makes its host the agent's again, without an event, so once one of two
 * processes is left the agent shows that one's host.
 */
@Injectable()
export class AgentBoots {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly directory: AgentDirectory,
  ) {}

  /** The host an agent's boot reported: kept with the boot, and on the agent, announced when it changed. */
  async hostReported(agent: AuthenticatedAgent, report: AgentHostReport, at: Date): Promise<void> {
    const host: AgentHost = { hostname: report.hostname, os: { platform: report.os.platform, release: report.os.release, description: report.os.description ?? null } };
    const recorded = await this.db.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO agent_boots (agent_id, boot_id, hostname, os_platform, os_release, os_description, first_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (agent_id, boot_id) DO UPDATE SET hostname = EXCLUDED.hostname, os_platform = EXCLUDED.os_platform, os_release = EXCLUDED.os_release, os_description = EXCLUDED.os_description`,
        [agent.id, report.boot, host.hostname, host.os.platform, host.os.release, host.os.description, at],
      );
      await this.prune(manager, agent.id);
      // The row as it was, locked: two reports at once each compare against what the other left.
      const [rows]: [{ hostname: string; os_platform: string; os_release: string; os_description: string | null }[], number] = await manager.query(
        `UPDATE agents a SET hostname = $2, os_platform = $3, os_release = $4, os_description = $5
           FROM (SELECT hostname, os_platform, os_release, os_description FROM agents WHERE id = $1 FOR UPDATE) old
          WHERE a.id = $1
          RETURNING old.hostname, old.os_platform, old.os_release, old.os_description`,
        [agent.id, host.hostname, host.os.platform, host.os.release, host.os.description],
      );
      const old = rows[0];
      if (!old) return [];
      const changes = hostChanges({ hostname: old.hostname, os: { platform: old.os_platform, release: old.os_release, description: old.os_description } }, host);
      if (!changes) return [];
      this.logger.info({ agentId: agent.id, boot: report.boot, ...changes }, "an agent's host changed");
      return this.events.insert(manager, [agentEvent(agent, at, 'agent-host-changed', { boot: report.boot, ...changes })]);
    });
    await this.events.announce(recorded);
  }

  /**
   * A poll of another boot than the agent's last one (`previousBoot`, null before its first poll):
   * records the boot, and when it is a return, counts it; the second return of the same boot within
   * the window flags the agent and announces it. (One restarted process whose last poll arrives
   * late makes each of its two boots return once at most.)
   */
  async bootChanged(agent: AuthenticatedAgent, boot: string, previousBoot: string | null, at: Date): Promise<{ clone: boolean }> {
    const { recorded, clone } = await this.db.transaction(async (manager): Promise<{ recorded: EventEntity[]; clone: boolean }> => {
      const [{ returned }]: { returned: boolean }[] = await manager.query(
        `WITH old AS (SELECT polled_at FROM agent_boots WHERE agent_id = $1 AND boot_id = $2),
              up AS (INSERT INTO agent_boots (agent_id, boot_id, first_seen_at, polled_at) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (agent_id, boot_id) DO UPDATE SET polled_at = greatest(agent_boots.polled_at, EXCLUDED.polled_at) RETURNING 1)
         SELECT (SELECT polled_at FROM old) IS NOT NULL AS returned, (SELECT count(*) FROM up) AS written`,
        [agent.id, boot, at],
      );
      if (!returned) {
        await this.prune(manager, agent.id);
        return { recorded: [], clone: false };
      }
      const window = AGENT_DUPLICATE_WINDOW_MS / 1000;
      const [counted]: [{ returns: number }[], number] = await manager.query(
        `UPDATE agent_boots SET returns = CASE WHEN returned_at > $3::timestamptz - make_interval(secs => $4) THEN returns + 1 ELSE 1 END, returned_at = greatest(returned_at, $3)
          WHERE agent_id = $1 AND boot_id = $2 RETURNING returns`,
        [agent.id, boot, at, window],
      );
      const twice = (counted[0]?.returns ?? 1) >= 2;
      const [rows]: [{ detected: boolean; returns: number; kept: string | null }[], number] = await manager.query(
        `UPDATE agents a
            SET boot_returns = CASE WHEN old.boot_returned_at > $2::timestamptz - make_interval(secs => $3) THEN old.boot_returns + 1 ELSE 1 END,
                boot_returned_at = greatest(old.boot_returned_at, $2),
                duplicated_at = CASE WHEN old.duplicated_at IS NULL AND $4 THEN $2 ELSE old.duplicated_at END,
                duplicate_changed_at = CASE WHEN old.duplicated_at IS NULL AND $4 THEN $2 ELSE old.duplicate_changed_at END
           FROM (SELECT boot_returns, boot_returned_at, duplicated_at, duplicate_changed_at FROM agents WHERE id = $1 FOR UPDATE) old
          WHERE a.id = $1
          RETURNING old.duplicated_at IS NULL AND a.duplicated_at IS NOT NULL AS detected, a.boot_returns AS returns, a.duplicate_kept_boot AS kept`,
        [agent.id, at, window, twice],
      );
      // The agent's host is the one this boot reported (when it did): the one polling now.
      await manager.query(
        `UPDATE agents a SET hostname = b.hostname, os_platform = b.os_platform, os_release = b.os_release, os_description = b.os_description
           FROM agent_boots b WHERE a.id = $1 AND b.agent_id = $1 AND b.boot_id = $2 AND b.hostname IS NOT NULL`,
        [agent.id, boot],
      );
      const row = rows[0];
      if (!row?.detected) {
        // Flagged before: a boot that does not keep the identity is to take one of its own.
        const clone = row?.kept != null && row.kept !== boot;
        this.logger.info({ agentId: agent.id, boot, previousBoot, returns: row?.returns, ...(clone ? { clone } : {}) }, 'an earlier boot of an agent polled again');
        return { recorded: [], clone };
      }
      const boots: BootRow[] = await manager.query(
        `SELECT boot_id, hostname, os_description, first_seen_at, polled_at FROM agent_boots WHERE agent_id = $1 AND boot_id = ANY($2::uuid[]) ORDER BY first_seen_at`,
        [agent.id, [boot, previousBoot].filter((b): b is string => b !== null)],
      );
      // The host of the newest boot before both: where the agent ran before the two started.
      const [before]: { hostname: string }[] = await manager.query(
        `SELECT hostname FROM agent_boots WHERE agent_id = $1 AND first_seen_at < $2 AND hostname IS NOT NULL ORDER BY first_seen_at DESC LIMIT 1`,
        [agent.id, boots[0]?.first_seen_at ?? at],
      );
      const kept = keptBoot(
        boots.map((b) => ({ boot: b.boot_id, hostname: b.hostname, firstSeenAt: new Date(b.first_seen_at) })),
        before?.hostname ?? null,
      );
      await manager.query(`UPDATE agents SET duplicate_kept_boot = $2 WHERE id = $1`, [agent.id, kept]);
      const hosts = boots.map((b) => ({ boot: b.boot_id, hostname: b.hostname, os: b.os_description, firstSeenAt: new Date(b.first_seen_at).toISOString() }));
      const keeper = hosts.find((h) => h.boot === kept);
      this.logger.warn({ agentId: agent.id, boots: hosts, kept }, 'two processes poll as one agent');
      const event = agentEvent(agent, at, 'agent-duplicated', {
        boots: hosts,
        kept,
        reason:
          'two agent processes poll with this identity (a cloned machine or a second copy); their results would mix two hosts. ' +
          `The process of boot ${kept}${keeper?.hostname ? ` on ${keeper.hostname}` : ''} keeps it; the other is told to enrol with an identity of its own, ` +
          'with a use of the enrolment token this agent was enrolled with (a second copy on one host should be stopped instead)',
      });
      return { recorded: await this.events.insert(manager, [event]), clone: kept !== boot };
    });
    if (recorded.length) this.directory.credentialsChanged(agent.id, 'duplicated'); // every replica holds its results from now on
    await this.events.announce(recorded);
    return { clone };
  }

  /** Keeps an agent's newest boots only. */
  private async prune(manager: EntityManager, agentId: string): Promise<void> {
    await manager.query(
      `DELETE FROM agent_boots WHERE agent_id = $1 AND boot_id NOT IN
         (SELECT boot_id FROM agent_boots WHERE agent_id = $1 ORDER BY greatest(polled_at, first_seen_at) DESC LIMIT ${BOOTS_KEPT})`,
      [agentId],
    );
  }
}
