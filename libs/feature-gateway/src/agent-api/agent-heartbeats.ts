import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { AgentFeatures, AgentPollQuery } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { EventEntity, Queryable } from '@portolan/persistence';
import { agentEvent, DATA_SOURCE, EventRecorder, LOGGER, ScanJobLedger } from '@portolan/platform';
import { AgentClock, CLOCK_SKEWED_MS, CLOCK_SYNCHRONISED_MS, clockTransition } from './agent-clock';
import { AgentBoots } from './agent-boots';
import { AuthenticatedAgent } from './agent.directory';

/** How often the heartbeats of agents known to be online are written, all in one statement. */
const FLUSH_MS = 1_000;
/** At most this many trackers named in one `agent-trackers-left-out` event (it says how many in all). */
const MAX_NAMED_TRACKERS = 100;
/** Agents whose state this replica remembers (an entry is a few hundred bytes). */
const MAX_KNOWN = 200_000;

interface Seen {
  readonly agent: AuthenticatedAgent;
  readonly query: AgentPollQuery;
  readonly at: Date;
  /** The agent's clock minus the hub's, if the poll said. */
  readonly clockOffsetMs?: number;
}

/** A heartbeat written, with what the hub held of the agent's clock before it. */
interface Written {
  readonly seen: Seen;
  readonly wasSkewed: boolean;
}

/**
 * Records that agents were seen. The first poll of an agent's boot (or after a change of
 * version or features, or when the agent was not online) is written at once, with the `agent-online`
 * communications event when it comes back. Every other poll is only noted, and the notes of
 * all agents are written once a second in one UPDATE: an agent that another process marked
 * offline meanwhile is not touched by it, and goes the first way instead (so its event is never
 * missed, at most a second late); so does one whose last poll elsewhere came from another boot
 * (`AgentBoots` counts boots that come back: two processes sharing one identity). The same
 * UPDATE reads back each agent's configuration version, so a poll can answer it without asking
 * the database. Features that differ from those last written (another program: an upgrade, say)
 * move the agent's configuration version, so it fetches a configuration made for what it can do.
 *
 * Each poll also says how far the agent's clock is from the hub's (`X-Portolan-Agent-Time`),
 * which is kept with the heartbeat; a clock that goes further than a minute off, and one that
 * comes back, is a communications event (`agent-clock-skewed`, `agent-clock-synchronised`).
 */
@Injectable()
export class AgentHeartbeats implements OnModuleInit, OnModuleDestroy {
  /** What this replica last wrote for an agent that is online: its boot, version and features. */
  private readonly known = new Map<string, { boot: string; version: string; features: string }>();
  private readonly configVersions = new Map<string, number>();
  /**
   * The boot of each agent that this replica found to be a clone (`AgentBoots`): told so by each
   * of its polls here while the agent is flagged, also those only noted (a process that polls
   * one replica only is found by that replica's batched write).
   */
  private readonly clones = new Map<string, string>();
  private cloneFound: (agentId: string) => void = () => undefined;
  private pending = new Map<string, Seen>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly boots: AgentBoots,
    private readonly ledger: ScanJobLedger,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /**
   * The agent polled now. Resolves once what must be written at once is written, saying whether
   * the polling process is a clone to be given an identity of its own (`AgentBoots`).
   */
  async seen(agent: AuthenticatedAgent, query: AgentPollQuery, clock: AgentClock): Promise<{ clone: boolean }> {
    const seen: Seen = { agent, query, at: new Date(clock.receivedAtMs), clockOffsetMs: clock.offsetMs };
    const known = this.known.get(agent.id);
    if (known && known.boot === query.boot && known.version === query.version && known.features === featureKey(query)) {
      this.pending.set(agent.id, seen);
      return { clone: this.isClone(agent, query.boot) };
    }
    this.pending.delete(agent.id); // an older poll noted here (of an earlier boot, say) is superseded
    const { clone } = await this.writeNow(seen);
    return { clone: clone || this.isClone(agent, query.boot) };
  }

  /** Whether a process of this (flagged) agent is a clone, as this replica found. */
  isClone(agent: AuthenticatedAgent, boot: string): boolean {
    return agent.duplicated && agent.keptBoot !== null && agent.keptBoot !== boot && this.clones.get(agent.id) === boot;
  }

  /** Called with the agent whenever a clone is found by a batched write (its poll here may be waiting). */
  onCloneFound(listener: (agentId: string) => void): void {
    this.cloneFound = listener;
  }

  /** The agent's configuration version as last read, if this replica has read it. */
  configVersion(agentId: string): number | undefined {
    return this.configVersions.get(agentId);
  }

  /** Forgets the configuration version (it changed), so the next poll reads it again. */
  configChanged(agentId: string): void {
    this.configVersions.delete(agentId);
  }

  rememberConfigVersion(agentId: string, version: number): void {
    remember(this.configVersions, agentId, version);
  }

  /** Writes the noted heartbeats (one statement), then, one by one, those of agents no longer online. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce()).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not write agent heartbeats; will retry'));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    if (!this.pending.size) return;
    const byAgent = this.pending;
    const batch = [...byAgent.values()];
    this.pending = new Map();
    let rows: { id: string; config_version: number; clock_skewed: boolean; latest: boolean }[];
    try {
      // A poll noted here may be older than one another replica wrote meanwhile: it does not move
      // the agent's last-seen time or clock back, nor count as its latest poll (`a` in SET is the
      // row version this statement locked, also when it waited for another replica's update).
      [rows] = await this.db.query(
        `UPDATE agents a SET last_seen_at = greatest(a.last_seen_at, v.at), spool_entries = v.spool_entries, spool_dropped = v.spool_dropped,
                applied_config_version = coalesce(v.applied_config_version, a.applied_config_version),
                clock_offset_ms = CASE WHEN a.last_seen_at IS NULL OR a.last_seen_at <= v.at THEN v.clock_offset_ms ELSE a.clock_offset_ms END
           FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, boot uuid, at timestamptz, spool_entries int, spool_dropped int, applied_config_version int, clock_offset_ms bigint)
          WHERE a.id = v.id AND a.status = 'online' AND a.boot_id = v.boot
          RETURNING a.id, a.config_version, a.clock_skewed, a.last_seen_at = v.at AS latest`,
        [
          JSON.stringify(
            batch.map((s) => ({
              id: s.agent.id,
              boot: s.query.boot,
              at: s.at,
              spool_entries: s.query.spoolEntries,
              spool_dropped: s.query.spoolDropped,
              applied_config_version: s.query.configVersion ?? null,
              clock_offset_ms: s.clockOffsetMs ?? null,
            })),
          ),
        ],
      );
    } catch (error) {
      // Newer polls noted meanwhile win; these go again with the next flush.
      for (const s of batch) if (!this.pending.has(s.agent.id)) this.pending.set(s.agent.id, s);
      throw error;
    }
    const written = new Set<string>();
    const clocks: Written[] = [];
    for (const row of rows) {
      written.add(row.id);
      this.rememberConfigVersion(row.id, row.config_version);
      if (row.latest) clocks.push({ seen: byAgent.get(row.id) as Seen, wasSkewed: row.clock_skewed });
    }
    await this.announceClocks(clocks).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not record agent clock changes'));
    for (const s of batch) {
      if (written.has(s.agent.id)) continue;
      // A newer boot written here since this poll was noted: the note is an old process's last poll, not news.
      const known = this.known.get(s.agent.id);
      if (known && known.boot !== s.query.boot) continue;
      this.known.delete(s.agent.id); // marked offline (or revoked) by another process meanwhile, or polled from another boot elsewhere
      await this.writeNow(s, 'noted').catch((error: unknown) => this.logger.warn({ agentId: s.agent.id, err: String(error) }, 'could not write an agent heartbeat'));
    }
  }

  /**
   * Writes a poll, and what follows from it (online, boot, clock). A poll `noted` a while ago (up
   * to a second, or longer while writes fail) may be older than a poll of another boot written
   * since, by this replica or another: it does not take the agent back to its boot. (A poll written
   * as it arrives is not held to that: replicas' clocks may differ.)
   */
  private async writeNow(seen: Seen, when: 'arrived' | 'noted' = 'arrived'): Promise<{ clone: boolean }> {
    const { agent, query, at } = seen;
    // Another program now (an upgrade, say) may do what the last could not: the configuration it
    // is given changes with it. A process that does not keep a duplicated identity (a clone still
    // on an older program, say) does not speak for the agent's program (its version and features),
    // or the two would take turns.
    const features = query.features ?? [];
    const speaks = !agent.duplicated || agent.keptBoot === query.boot;
    const write = (q: Queryable) => writeHeartbeat(q, seen, when, features, speaks);
    // A program that does not pace, where the last one did, is a downgrade: the heartbeat that
    // writes its features commits with what the downgrade leaves out (`leaveOutPaced`), or
    // neither does and the agent's next poll tries again (a failure that persists keeps the
    // agent's polls failing, and it goes offline: seen, rather than a downgrade unsaid). The
    // paced trackers are locked before the agent's row, as a tracker's edit takes them (it then
    // moves the agent's configuration version).
    const mayLosePace = speaks && !features.includes(AgentFeatures.scanPace) && (await saysPace(this.db, agent.id));
    const { row, leftOut } = mayLosePace
      ? await this.db.transaction(async (manager) => {
          const paced = await lockPacedTrackers(manager, agent.id);
          const written = await write(manager);
          return { row: written, leftOut: written ? await this.leaveOutPaced(manager, seen, written.previous_features, features, paced) : [] };
        })
      : { row: await write(this.db), leftOut: [] };
    if (!row) return { clone: false };
    // A process that did not speak for the program goes this way again at its next poll: by then it may (the
    // hub chose it to keep the identity), and a poll only noted never writes the program.
    if (speaks) remember(this.known, agent.id, { boot: query.boot, version: query.version, features: featureKey(query) });
    else this.known.delete(agent.id);
    this.rememberConfigVersion(agent.id, row.config_version);
    await this.announceOnline(seen, row);
    if (leftOut.length) {
      this.logger.warn({ agentId: agent.id, events: leftOut.length }, 'paced trackers left out: the agent no longer paces');
      // Stored with the heartbeat: what is not announced now, the scheduler's leader announces.
      await this.events.announce(leftOut).catch((error: unknown) => this.logger.warn({ agentId: agent.id, err: String(error) }, 'could not announce the trackers an agent can no longer run'));
    }
    let clone = false;
    if (row.previous_boot !== query.boot) {
      ({ clone } = await this.boots.bootChanged(agent, query.boot, { boot: row.previous_boot, seenAt: row.previous_seen_at }, at).catch((error: unknown) => {
        this.logger.warn({ agentId: agent.id, err: String(error) }, "could not record an agent's boot");
        return { clone: false };
      }));
      if (clone) {
        remember(this.clones, agent.id, query.boot);
        if (when === 'noted') this.cloneFound(agent.id);
      } else if (this.clones.get(agent.id) === query.boot) {
        this.clones.delete(agent.id); // it keeps the identity now (the one that did is gone)
      }
    }
    // The heartbeat is written: a clock event that fails is logged, not the poll's failure (the next poll tries it again).
    await this.announceClocks([{ seen, wasSkewed: row.clock_skewed }]).catch((error: unknown) => this.logger.warn({ agentId: agent.id, err: String(error) }, 'could not record an agent clock change'));
    return { clone };
  }

  /** The `agent-online` event of an agent that was not online. */
  private async announceOnline({ agent, query, at }: Seen, row: { previous: string; previous_boot: string | null }): Promise<void> {
    if (row.previous === 'online') return;
    const recorded = await this.db.transaction((manager) =>
      this.events.insert(manager, [agentEvent(agent, at, 'agent-online', { version: query.version, previousStatus: row.previous, restarted: row.previous_boot !== query.boot })]),
    );
    await this.events.announce(recorded);
    this.logger.info({ agentId: agent.id, previous: row.previous }, 'agent online');
  }

  /**
   * The `agent-trackers-left-out` event of an agent whose program no longer paces its scans (a
   * downgrade), naming the paced trackers its configuration now leaves out (rather than have them
   * scanned at full speed): without it they would only stop, with a line in the gateway's log.
   * The runs asked of them that the agent has not started are cancelled with it (the agent passes
   * them over: they would wait for the start timeout), each with its `scan-failed` event, under
   * the trackers' locks (`paced`, taken before the heartbeat), as a tracker's disabling does.
   * Written in the heartbeat's transaction; returns the events to announce once it commits.
   */
  private async leaveOutPaced(manager: EntityManager, { agent, query, at }: Seen, before: readonly string[], after: readonly string[], paced: readonly PacedTracker[]): Promise<EventEntity[]> {
    if (!before.includes(AgentFeatures.scanPace) || after.includes(AgentFeatures.scanPace) || !paced.length) return [];
    const cancel = `cancelled: agent "${agent.name}" (version ${query.version}) no longer paces its scans, and the tracker is paced; the run was not started`;
    const rows = await this.ledger.cancelUnstartedAgentRuns(manager, paced.map((t) => t.id), cancel, at);
    const trackers = [...paced].sort((x, y) => x.name.localeCompare(y.name) || x.id.localeCompare(y.id));
    const reason = `agent "${agent.name}" (version ${query.version}) no longer says it paces its scans (feature "${AgentFeatures.scanPace}"): its paced trackers are left out of its configuration, not scanned at full speed; upgrade the agent, or clear their maxRate`;
    const details = { version: query.version, features: after, trackers: trackers.slice(0, MAX_NAMED_TRACKERS), trackerCount: trackers.length, runsCancelled: rows.length, reason };
    return [...rows, ...(await this.events.insert(manager, [agentEvent(agent, at, 'agent-trackers-left-out', details)]))];
  }

  /**
   * Records the clocks that went off or came back (`clockTransition`), each with its
   * communications event, in one transaction: only where the flag is still as this poll read it,
   * so two replicas hearing the same agent announce it once.
   */
  private async announceClocks(written: readonly Written[]): Promise<void> {
    const changes = written.flatMap(({ seen, wasSkewed }) => {
      const what = clockTransition(wasSkewed, seen.clockOffsetMs);
      return what ? [{ seen, what, skewed: what === 'agent-clock-skewed' }] : [];
    });
    if (!changes.length) return;
    const recorded = await this.db.transaction(async (manager) => {
      const [rows]: [{ id: string }[], number] = await manager.query(
        `UPDATE agents a SET clock_skewed = v.skewed FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, skewed boolean)
          WHERE a.id = v.id AND a.clock_skewed <> v.skewed RETURNING a.id`,
        [JSON.stringify(changes.map((c) => ({ id: c.seen.agent.id, skewed: c.skewed })))],
      );
      const changed = new Set(rows.map((r) => r.id));
      const events = changes
        .filter((c) => changed.has(c.seen.agent.id))
        .map(({ seen: { agent, at, clockOffsetMs }, what }) =>
          agentEvent(agent, at, what, { clockOffsetMs: clockOffsetMs as number, thresholdMs: what === 'agent-clock-skewed' ? CLOCK_SKEWED_MS : CLOCK_SYNCHRONISED_MS }),
        );
      return events.length ? this.events.insert(manager, events) : [];
    });
    for (const { deviceId, details } of recorded) this.logger.warn({ deviceId, ...details }, 'agent clock');
    await this.events.announce(recorded);
  }
}

/** The poll's features as one string to compare. */
function featureKey(query: AgentPollQuery): string {
  return query.features?.join(',') ?? '';
}

/** Sets a key, dropping the oldest entries beyond MAX_KNOWN. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_KNOWN) map.delete(map.keys().next().value as string);
}

interface HeartbeatRow {
  previous: string;
  previous_boot: string | null;
  previous_seen_at: Date | null;
  previous_features: string[];
  config_version: number;
  clock_skewed: boolean;
}

/**
 * The poll's heartbeat, as `AgentHeartbeats.writeNow` writes it: online, its boot, and the
 * program (version, features) if the process `speaks` for it; features that differ move the
 * configuration version. Returns what the agent was before, or nothing (revoked; or, `noted`, a
 * poll older than one of another boot written since).
 */
async function writeHeartbeat(q: Queryable, { agent, query, at, clockOffsetMs }: Seen, when: 'arrived' | 'noted', features: readonly string[], speaks: boolean): Promise<HeartbeatRow | undefined> {
  const [rows]: [HeartbeatRow[], number] = await q.query(
    `UPDATE agents a SET last_seen_at = $6, status = 'online', boot_id = $2, version = CASE WHEN $11 THEN $3 ELSE a.version END, spool_entries = $4, spool_dropped = $5,
            applied_config_version = coalesce($7::int, a.applied_config_version), clock_offset_ms = $8,
            features = CASE WHEN $11 THEN $10::text[] ELSE a.features END,
            config_version = a.config_version + CASE WHEN $11 AND a.features <> $10::text[] THEN 1 ELSE 0 END
       FROM (SELECT status, boot_id, last_seen_at, features FROM agents WHERE id = $1 FOR UPDATE) old
      WHERE a.id = $1 AND a.status <> 'revoked'
        AND ($9 OR old.boot_id IS NOT DISTINCT FROM $2::uuid OR old.last_seen_at IS NULL OR old.last_seen_at <= $6)
      RETURNING old.status AS previous, old.boot_id AS previous_boot, old.last_seen_at AS previous_seen_at, old.features AS previous_features, a.config_version, a.clock_skewed`,
    [agent.id, query.boot, query.version, query.spoolEntries, query.spoolDropped, at, query.configVersion ?? null, clockOffsetMs ?? null, when === 'arrived', features, speaks],
  );
  return rows[0];
}

interface PacedTracker {
  readonly id: string;
  readonly name: string;
}

/** Whether the agent's program, as last written, says it paces its scans (read without a lock: `writeHeartbeat` reads it again under one). */
async function saysPace(q: Queryable, agentId: string): Promise<boolean> {
  const [row]: { paces: boolean }[] = await q.query(`SELECT $2 = ANY(features) AS paces FROM agents WHERE id = $1`, [agentId, AgentFeatures.scanPace]);
  return row?.paces ?? false;
}

/** The agent's enabled paced scans, locked in id order (as every writer of trackers takes them). */
function lockPacedTrackers(manager: EntityManager, agentId: string): Promise<PacedTracker[]> {
  return manager.query(`SELECT id, name FROM trackers WHERE agent_id = $1 AND enabled AND max_rate IS NOT NULL AND mode IN ('remote', 'network') ORDER BY id FOR UPDATE`, [agentId]);
}
