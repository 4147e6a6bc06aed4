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

/**
 * What the agent's row says of a duplicated identity's keeper. Both times are kept as boots take
 * over from one another (`bootChanged`), never by the steady heartbeats: while the keeper is the
 * agent's current boot no other boot has polled since its last take-over.
 */
interface KeptState {
  flagged: boolean;
  kept: string | null;
  /** The kept boot's last poll before another boot took over from it (or its take-over, if none did since). */
  kept_seen_at: Date | null;
  /** The first poll of another boot since then (none: null). */
  contested_at: Date | null;
}

/**
 * A process that keeps a duplicated identity is taken for gone once other boots have polled for
 * this long without it (longer than two long polls). Counted from another boot's poll, not from
 * its own last one, so that a hub (or its database) away for a while does not hand its identity
 * to whichever process polls first when it is back.
 */
const KEPT_GONE_MS = 2 * 60_000;

/** A boot of one of two processes that poll as one agent. */
export interface DuplicateBoot {
  readonly boot: string;
  readonly hostname: string | null;
  readonly firstSeenAt: Date;
}

/**
 * Which of the processes polling as one agent keeps its identity. Those on the host the agent ran
 * on before them (`hostBefore`) come first: a clone is usually renamed, the original keeps its
 * name. Among them, one that started after `restartedAfter` (the last poll of the process that
 * kept it before: a restart of that one); then the one that started first (a machine cloned while
 * its agent ran).
 */
export function keptBoot(boots: readonly DuplicateBoot[], hostBefore: string | null, restartedAfter?: Date): string {
  const byAge = [...boots].sort((a, b) => a.firstSeenAt.getTime() - b.firstSeenAt.getTime());
  const there = byAge.filter((b) => hostBefore !== null && b.hostname === hostBefore);
  const pool = there.length ? there : byAge;
  const restarts = restartedAfter ? there.filter((b) => b.firstSeenAt.getTime() > restartedAfter.getTime()) : [];
  return (restarts[0] ?? pool[0]).boot;
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

  /**
   * The host an agent's boot reported: kept with the boot, and on the agent, announced when it
   * changed. A flagged agent whose kept process is gone may be kept by this boot from now on (a
   * restart of it: its host is the one the kept process ran on).
   */
  async hostReported(agent: AuthenticatedAgent, report: AgentHostReport, at: Date): Promise<void> {
    const host: AgentHost = { hostname: report.hostname, os: { platform: report.os.platform, release: report.os.release, description: report.os.description ?? null } };
    let handedOver = false;
    const recorded = await this.db.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO agent_boots (agent_id, boot_id, hostname, os_platform, os_release, os_description, first_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (agent_id, boot_id) DO UPDATE SET hostname = EXCLUDED.hostname, os_platform = EXCLUDED.os_platform, os_release = EXCLUDED.os_release, os_description = EXCLUDED.os_description`,
        [agent.id, report.boot, host.hostname, host.os.platform, host.os.release, host.os.description, at],
      );
      await this.prune(manager, agent.id);
      // The row as it was, locked: two reports at once each compare against what the other left.
      const [rows]: [({ hostname: string; os_platform: string; os_release: string; os_description: string | null } & KeptState)[], number] = await manager.query(
        `UPDATE agents a SET hostname = $2, os_platform = $3, os_release = $4, os_description = $5
           FROM (SELECT hostname, os_platform, os_release, os_description FROM agents WHERE id = $1 FOR UPDATE) old
          WHERE a.id = $1
          RETURNING old.hostname, old.os_platform, old.os_release, old.os_description, a.duplicated_at IS NOT NULL AS flagged,
                    a.duplicate_kept_boot AS kept, a.duplicate_kept_seen_at AS kept_seen_at, a.duplicate_contested_at AS contested_at`,
        [agent.id, host.hostname, host.os.platform, host.os.release, host.os.description],
      );
      const old = rows[0];
      if (!old) return [];
      if (old.flagged && old.kept !== report.boot) ({ handedOver } = await this.keeper(manager, agent, report.boot, old, at));
      const changes = hostChanges({ hostname: old.hostname, os: { platform: old.os_platform, release: old.os_release, description: old.os_description } }, host);
      if (!changes) return [];
      this.logger.info({ agentId: agent.id, boot: report.boot, ...changes }, "an agent's host changed");
      return this.events.insert(manager, [agentEvent(agent, at, 'agent-host-changed', { boot: report.boot, ...changes })]);
    });
    if (handedOver) this.directory.credentialsChanged(agent.id, 'duplicated');
    await this.events.announce(recorded);
  }

  /**
   * A result or scan report held because `boot` does not keep the flagged agent's identity: if
   * the process that kept it is gone (`keeper`: others have polled without it for
   * `KEPT_GONE_MS`), it is handed over now, and possibly to this boot (a restart of the keeper
   * that polls alone has no return and no second host report to hand it over otherwise).
   * Says whether the call is to be taken: the boot keeps the identity, or the flag is gone.
   */
  async heldCall(agent: AuthenticatedAgent, boot: string, at: Date): Promise<boolean> {
    let handedOver = false;
    const taken = await this.db.transaction(async (manager) => {
      const [state]: KeptState[] = await manager.query(
        `SELECT duplicated_at IS NOT NULL AS flagged, duplicate_kept_boot AS kept, duplicate_kept_seen_at AS kept_seen_at, duplicate_contested_at AS contested_at
           FROM agents WHERE id = $1 FOR NO KEY UPDATE`,
        [agent.id],
      );
      if (!state) return false;
      if (!state.flagged || state.kept === boot) return true;
      let kept: string | null;
      ({ kept, handedOver } = await this.keeper(manager, agent, boot, state, at));
      return kept === boot;
    });
    // Every replica takes the new keeper's calls (or sees the flag gone) from now on.
    if (handedOver || taken) this.directory.credentialsChanged(agent.id, 'duplicated');
    return taken;
  }

  /**
   * A poll of another boot than the agent's last one (`previous`: its boot, null before the first
   * poll, and that boot's last poll):
   * records the boot, and when it is a return, counts it; the second return of the same boot within
   * the window flags the agent and announces it. (One restarted process whose last poll arrives
   * late makes each of its two boots return once at most.) Says whether the polling process is a
   * clone: a boot of a flagged agent that returned and does not keep the identity.
   */
  async bootChanged(agent: AuthenticatedAgent, boot: string, previous: { boot: string | null; seenAt: Date | null }, at: Date): Promise<{ clone: boolean }> {
    const previousBoot = previous.boot;
    const { recorded, clone, handedOver } = await this.db.transaction(async (manager): Promise<{ recorded: EventEntity[]; clone: boolean; handedOver?: boolean }> => {
      const [{ returned }]: { returned: boolean }[] = await manager.query(
        `WITH old AS (SELECT polled_at FROM agent_boots WHERE agent_id = $1 AND boot_id = $2),
              up AS (INSERT INTO agent_boots (agent_id, boot_id, first_seen_at, polled_at) VALUES ($1, $2, $3, $3)
                     ON CONFLICT (agent_id, boot_id) DO UPDATE SET polled_at = greatest(agent_boots.polled_at, EXCLUDED.polled_at) RETURNING 1)
         SELECT (SELECT polled_at FROM old) IS NOT NULL AS returned, (SELECT count(*) FROM up) AS written`,
        [agent.id, boot, at],
      );
      if (!returned) {
        await this.prune(manager, agent.id);
        // A new boot of a flagged agent polls without its keeper (a clone, or a restart of the keeper).
        await manager.query(
          `UPDATE agents SET duplicate_contested_at = coalesce(duplicate_contested_at, $2),
                  duplicate_kept_seen_at = CASE WHEN duplicate_kept_boot = $4::uuid THEN greatest(duplicate_kept_seen_at, $5::timestamptz) ELSE duplicate_kept_seen_at END
            WHERE id = $1 AND duplicated_at IS NOT NULL AND duplicate_kept_boot IS DISTINCT FROM $3::uuid`,
          [agent.id, at, boot, previousBoot, previous.seenAt],
        );
        return { recorded: [], clone: false };
      }
      const window = AGENT_DUPLICATE_WINDOW_MS / 1000;
      const [counted]: [{ returns: number }[], number] = await manager.query(
        `UPDATE agent_boots SET returns = CASE WHEN returned_at > $3::timestamptz - make_interval(secs => $4) THEN returns + 1 ELSE 1 END, returned_at = greatest(returned_at, $3)
          WHERE agent_id = $1 AND boot_id = $2 RETURNING returns`,
        [agent.id, boot, at, window],
      );
      const twice = (counted[0]?.returns ?? 1) >= 2;
      const [rows]: [({ detected: boolean; returns: number } & KeptState)[], number] = await manager.query(
        `UPDATE agents a
            SET boot_returns = CASE WHEN old.boot_returned_at > $2::timestamptz - make_interval(secs => $3) THEN old.boot_returns + 1 ELSE 1 END,
                boot_returned_at = greatest(old.boot_returned_at, $2),
                duplicated_at = CASE WHEN old.duplicated_at IS NULL AND $4 THEN $2 ELSE old.duplicated_at END,
                duplicate_changed_at = CASE WHEN old.duplicated_at IS NULL AND $4 THEN $2 ELSE old.duplicate_changed_at END,
                -- The keeper taking over ends a contest; another boot taking over from it starts one, and says when it last polled.
                duplicate_kept_seen_at = CASE WHEN old.duplicated_at IS NULL THEN old.duplicate_kept_seen_at
                                              WHEN old.duplicate_kept_boot = $5::uuid THEN $2
                                              WHEN old.duplicate_kept_boot = $6::uuid THEN greatest(old.duplicate_kept_seen_at, $7::timestamptz)
                                              ELSE old.duplicate_kept_seen_at END,
                duplicate_contested_at = CASE WHEN old.duplicated_at IS NULL THEN old.duplicate_contested_at
                                              WHEN old.duplicate_kept_boot = $5::uuid THEN NULL
                                              ELSE coalesce(old.duplicate_contested_at, $2) END
           FROM (SELECT boot_returns, boot_returned_at, duplicated_at, duplicate_changed_at, duplicate_kept_boot, duplicate_kept_seen_at, duplicate_contested_at FROM agents WHERE id = $1 FOR UPDATE) old
          WHERE a.id = $1
          RETURNING old.duplicated_at IS NULL AND a.duplicated_at IS NOT NULL AS detected, a.boot_returns AS returns, a.duplicated_at IS NOT NULL AS flagged,
                    a.duplicate_kept_boot AS kept, a.duplicate_kept_seen_at AS kept_seen_at, a.duplicate_contested_at AS contested_at`,
        [agent.id, at, window, twice, boot, previousBoot, previous.seenAt],
      );
      // The agent's host is the one this boot reported (when it did): the one polling now.
      await manager.query(
        `UPDATE agents a SET hostname = b.hostname, os_platform = b.os_platform, os_release = b.os_release, os_description = b.os_description
           FROM agent_boots b WHERE a.id = $1 AND b.agent_id = $1 AND b.boot_id = $2 AND b.hostname IS NOT NULL`,
        [agent.id, boot],
      );
      const row = rows[0];
      if (!row?.detected) {
        this.logger.info({ agentId: agent.id, boot, previousBoot, returns: row?.returns }, 'an earlier boot of an agent polled again');
        if (!row?.flagged) return { recorded: [], clone: false };
        const { kept, handedOver } = await this.keeper(manager, agent, boot, row, at);
        return { recorded: [], clone: kept !== null && kept !== boot && !(await this.restartOfKeeper(manager, agent.id, boot, kept)), handedOver };
      }
      const boots: BootRow[] = await manager.query(
        `SELECT boot_id, hostname, os_description, first_seen_at, polled_at FROM agent_boots WHERE agent_id = $1 AND boot_id = ANY($2::uuid[]) ORDER BY first_seen_at`,
        [agent.id, [boot, previousBoot].filter((b): b is string => b !== null)],
      );
      // None when this boot was enrolled anew already (a late poll of it): chosen at a later return.
      const kept = await this.keep(manager, agent.id, boot, at, null);
      const hosts = boots.map((b) => ({ boot: b.boot_id, hostname: b.hostname, os: b.os_description, firstSeenAt: new Date(b.first_seen_at).toISOString() }));
      this.logger.warn({ agentId: agent.id, boots: hosts, kept: kept?.boot }, 'two processes poll as one agent');
      const keeper = kept ? `The process of boot ${kept.boot}${kept.hostname ? ` on ${kept.hostname}` : ''} keeps it; any other` : 'One of them will keep it (chosen at the next return); any other';
      const event = agentEvent(agent, at, 'agent-duplicated', {
        boots: hosts,
        kept: kept?.boot ?? null,
        reason:
          'two agent processes poll with this identity (a cloned machine or a second copy); their results would mix two hosts. ' +
          `${keeper} is told to enrol with an identity of its own, ` +
          'with a use of the enrolment token this agent was enrolled with (a second copy on one host should be stopped instead)',
      });
      return { recorded: await this.events.insert(manager, [event]), clone: kept !== undefined && kept.boot !== boot };
    });
    // Every replica holds the results of all but the kept process from now on (or takes those of the new keeper).
    if (recorded.length || handedOver) this.directory.credentialsChanged(agent.id, 'duplicated');
    await this.events.announce(recorded);
    return { clone };
  }

  /**
   * The boot that keeps a flagged agent's identity: the one chosen, while it polls. One that other
   * boots have polled without for `KEPT_GONE_MS` (stopped, or restarted: a new boot) is replaced
   * by a boot polling now, chosen as at first, its host counting as the host before and a restart
   * of it first; so is none (flagged before the hub chose one). In the caller's transaction, the
   * agent's row locked.
   */
  private async keeper(manager: EntityManager, agent: AuthenticatedAgent, boot: string, state: KeptState, at: Date): Promise<{ kept: string | null; handedOver: boolean }> {
    const contested = state.contested_at ? new Date(state.contested_at).getTime() : undefined;
    if (state.kept && (contested === undefined || contested > at.getTime() - KEPT_GONE_MS)) return { kept: state.kept, handedOver: false };
    const [gone]: { hostname: string | null }[] = state.kept ? await manager.query(`SELECT hostname FROM agent_boots WHERE agent_id = $1 AND boot_id = $2`, [agent.id, state.kept]) : [];
    const kept = await this.keep(manager, agent.id, boot, at, state.kept ? { hostname: gone?.hostname ?? null, lastSeenAt: state.kept_seen_at } : null);
    if (!kept || kept.boot === state.kept) return { kept: state.kept, handedOver: false };
    this.logger.warn(
      { agentId: agent.id, gone: state.kept, kept: kept.boot, hostname: kept.hostname },
      state.kept ? 'the process that kept a duplicated agent identity is gone; another keeps it now' : 'a process chosen to keep a duplicated agent identity',
    );
    return { kept: kept.boot, handedOver: true };
  }

  /**
   * Chooses the boot that keeps a flagged agent's identity among those polling (within
   * `KEPT_GONE_MS`, `boot` polling now) and not enrolled anew (`keptBoot`), and records it; none
   * when there is no such boot. `gone`: the host of the one that kept it before and its last
   * poll; without it, the host before is that of the newest boot before them all.
   */
  private async keep(manager: EntityManager, agentId: string, boot: string, at: Date, gone: { hostname: string | null; lastSeenAt: Date | null } | null): Promise<{ boot: string; hostname: string | null } | undefined> {
    const candidates: { boot_id: string; hostname: string | null; first_seen_at: Date; last_at: Date }[] = await manager.query(
      `SELECT boot_id, hostname, first_seen_at, greatest(polled_at, first_seen_at) AS last_at FROM agent_boots
        WHERE agent_id = $1 AND reenrolled_as IS NULL AND (boot_id = $2 OR greatest(polled_at, first_seen_at) > $3::timestamptz - make_interval(secs => $4))
        ORDER BY first_seen_at`,
      [agentId, boot, at, KEPT_GONE_MS / 1000],
    );
    if (!candidates.length) return undefined;
    let hostBefore = gone?.hostname ?? null;
    if (!gone) {
      const [before]: { hostname: string }[] = await manager.query(
        `SELECT hostname FROM agent_boots WHERE agent_id = $1 AND first_seen_at < $2 AND hostname IS NOT NULL ORDER BY first_seen_at DESC LIMIT 1`,
        [agentId, candidates[0].first_seen_at],
      );
      hostBefore = before?.hostname ?? null;
    }
    const kept = keptBoot(
      candidates.map((c) => ({ boot: c.boot_id, hostname: c.hostname, firstSeenAt: new Date(c.first_seen_at) })),
      hostBefore,
      gone?.lastSeenAt ? new Date(gone.lastSeenAt) : undefined,
    );
    const chosen = candidates.find((c) => c.boot_id === kept)!;
    await manager.query(
      `UPDATE agents SET duplicate_kept_boot = $2, duplicate_kept_seen_at = $3, duplicate_contested_at = NULL, duplicate_changed_at = $4 WHERE id = $1`,
      [agentId, kept, kept === boot ? at : chosen.last_at, at],
    );
    return { boot: kept, hostname: chosen.hostname };
  }

  /**
   * Whether `boot` is a restart of the process that keeps the identity, as far as the hub can tell:
   * on its host, and started after its last poll. It is not told to enrol anew; once the keeper has
   * been gone for `KEPT_GONE_MS`, it takes its place (`keeper`).
   */
  private async restartOfKeeper(manager: EntityManager, agentId: string, boot: string, kept: string): Promise<boolean> {
    const [row]: { restart: boolean }[] = await manager.query(
      `SELECT b.hostname = k.hostname AND b.first_seen_at > a.duplicate_kept_seen_at AS restart
         FROM agent_boots b, agent_boots k, agents a
        WHERE b.agent_id = $1 AND b.boot_id = $2 AND k.agent_id = $1 AND k.boot_id = $3 AND a.id = $1`,
      [agentId, boot, kept],
    );
    return row?.restart === true;
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
