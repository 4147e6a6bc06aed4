import { Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { AgentEntity, SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { AgentSecretsService } from '../agent-api/agent-secrets.service';
import { AgentDirectory } from '../agent-api/agent.directory';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';
import { containsLike, QueryFlag } from '../http/query.filters';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';

/** Filters of the agent list, all optional and combined with AND; an unknown one is an error, not ignored. */
export const AgentsQuerySchema = z
  .object({
    limit: LimitSchema(500, 100),
    cursor: z.string().max(200).optional(),
    status: z.enum(['enrolled', 'online', 'offline', 'revoked']).optional(),
    siteId: z.uuid().optional(),
    /** The agent version exactly as reported, e.g. to find the agents still on an old release. */
    version: z.string().trim().min(1).max(64).optional(),
    /** Agents whose program says it can do this (`features`, e.g. `scan-pace`), and those that do not say it: the agents to upgrade for it. */
    feature: z.string().trim().min(1).max(32).optional(),
    lacksFeature: z.string().trim().min(1).max(32).optional(),
    /** Free text, matched case-insensitively in the agent's name and host name. */
    q: z.string().trim().min(1).max(200).optional(),
    scanner: QueryFlag.optional(),
    /** Agents whose last poll reported results still waiting in their spool (true), or none (false). */
    spooling: QueryFlag.optional(),
    /** Agents last heard from before this time, or never. */
    seenBefore: z.iso.datetime({ offset: true }).optional(),
    /** Agents (not revoked) that have not yet reported applying their current configuration (true), or that have (false). Revoked agents match neither. */
    configPending: QueryFlag.optional(),
    /** Agents (not revoked) whose clock the hub holds skewed (more than a minute from its own, `agent-clock-skewed`), or not. Revoked agents match neither. */
    clockSkewed: QueryFlag.optional(),
    /** Agents (not revoked) that two processes poll as (`agent-duplicated`: a cloned image, a second copy), or not. Revoked agents match neither. */
    duplicated: QueryFlag.optional(),
  })
  .strict();
type AgentsQuery = z.infer<typeof AgentsQuerySchema>;

export interface AgentsSummary {
  total: number;
  byStatus: Record<AgentEntity['status'], number>;
  /** Agents by reported version, most agents first. */
  byVersion: { version: string; agents: number }[];
  /** Agents by site, most agents first; `siteId` null for agents enrolled without a site. */
  bySite: { siteId: string | null; site: string | null; agents: number }[];
  /** What agents reported waiting in their spools at their last poll: how many agents, entries, and entries dropped. */
  spool: { agents: number; entries: number; dropped: number };
  /** Agents (not revoked) that have not yet reported applying their current configuration, e.g. the pins of a certificate staged for rotation. */
  configPending: number;
  /** Agents (not revoked) whose clock the hub holds skewed. */
  clockSkewed: number;
  /** Agents (not revoked) that two processes poll as. */
  duplicated: number;
}

export interface AgentView {
  id: string;
  name: string;
  hostname: string;
  status: AgentEntity['status'];
  version: string;
  /** What the agent program said it can do (`scan-pace`: it honours a tracker's maxRate); empty for agents from before the list. */
  features: string[];
  os: { platform: string; release: string; description: string | null };
  site: string | null;
  deviceId: string;
  scanner: boolean;
  lastSeenAt: Date | null;
  spool: { entries: number; dropped: number };
  /** The agent's configuration version at the hub, the one it last reported applied (null before it did), and whether those differ. */
  config: { version: number; applied: number | null; pending: boolean };
  /** The agent's clock minus the hub's at its last poll, ms (null when the agent does not say), and whether the hub holds it skewed. */
  clock: { offsetMs: number | null; skewed: boolean };
  /** Since when two processes poll as this agent (`agent-duplicated`), until only one has for ten minutes; null otherwise. */
  duplicatedAt: Date | null;
  authFailures: number;
  enrolledAt: Date;
  revokedAt: Date | null;
}

/** One start of an agent's process, as `GET /api/agents/:id/boots` lists it. */
export interface AgentBootView {
  boot: string;
  /** The boot the agent's last written poll came from. */
  current: boolean;
  /** The host this boot reported (null from agents older than host reports). */
  hostname: string | null;
  os: { platform: string; release: string; description: string | null } | null;
  firstSeenAt: Date;
  /** When its polls last took over from another boot's (its first poll, or a return); null before its first poll. Later polls of the same boot are not written here. */
  tookOverAt: Date | null;
}

/** An agent has not yet reported applying the configuration the hub holds for it (or has reported none). */
const CONFIG_PENDING = 'a.applied_config_version IS DISTINCT FROM a.config_version';

@Controller('agents')
export class AgentsController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly secrets: AgentSecretsService,
    private readonly directory: AgentDirectory,
  ) {}

  /** Agents, newest enrolment first: status, version, OS, site, last seen, spool depth reported by the agent; filtered by `AgentsQuerySchema`. */
  @Get()
  async list(@Query(new ZodValidationPipe(AgentsQuerySchema, 'query')) query: AgentsQuery): Promise<Page<AgentView>> {
    const qb = this.db.getRepository(AgentEntity).createQueryBuilder('a').orderBy('a.enrolled_at', 'DESC').addOrderBy('a.id', 'DESC').take(query.limit + 1);
    if (query.status) qb.andWhere('a.status = :status', { status: query.status });
    if (query.siteId) qb.andWhere('a.site_id = :siteId', { siteId: query.siteId });
    if (query.version) qb.andWhere('a.version = :version', { version: query.version });
    if (query.feature) qb.andWhere(':feature = ANY(a.features)', { feature: query.feature });
    if (query.lacksFeature) qb.andWhere('NOT (:lacks = ANY(a.features))', { lacks: query.lacksFeature });
    if (query.q) qb.andWhere(`(a.name ILIKE :like ESCAPE '\\' OR a.hostname ILIKE :like ESCAPE '\\')`, { like: containsLike(query.q) });
    if (query.scanner !== undefined) qb.andWhere('a.scanner = :scanner', { scanner: query.scanner });
    if (query.spooling !== undefined) qb.andWhere(query.spooling ? 'a.spool_entries > 0' : 'a.spool_entries = 0');
    if (query.configPending !== undefined) qb.andWhere(`a.status <> 'revoked' AND ${query.configPending ? '' : 'NOT '}${CONFIG_PENDING}`);
    if (query.clockSkewed !== undefined) qb.andWhere(`a.status <> 'revoked' AND a.clock_skewed = :skewed`, { skewed: query.clockSkewed });
    if (query.duplicated !== undefined) qb.andWhere(`a.status <> 'revoked' AND a.duplicated_at IS ${query.duplicated ? 'NOT ' : ''}NULL`);
    if (query.seenBefore) qb.andWhere('(a.last_seen_at IS NULL OR a.last_seen_at < :seenBefore)', { seenBefore: new Date(query.seenBefore) });
    if (query.cursor) {
      const { at, id } = decodeCursor(query.cursor);
      qb.andWhere('(a.enrolled_at, a.id) < (:at, :id)', { at, id });
    }
    const rows = await qb.getMany();
    const sites = await this.siteNames(rows);
    const page = pageOf(rows, query.limit, (row) => row.enrolledAt);
    return { items: page.items.map((row) => view(row, sites)), nextCursor: page.nextCursor };
  }

  /** The fleet at a glance: agents by status, version and site, and what their spools hold (one pass over the agents). */
  @Get('-/summary')
  async summary(): Promise<AgentsSummary> {
    const groups: { status: AgentEntity['status']; version: string; site_id: string | null; site: string | null; agents: number; spooling: number; entries: number; dropped: number; pending: number; skewed: number; duplicated: number }[] = await this.db.query(
      `SELECT a.status, a.version, a.site_id, s.name AS site, count(*)::int AS agents, count(*) FILTER (WHERE a.spool_entries > 0)::int AS spooling,
              count(*) FILTER (WHERE a.status <> 'revoked' AND ${CONFIG_PENDING})::int AS pending,
              count(*) FILTER (WHERE a.status <> 'revoked' AND a.clock_skewed)::int AS skewed,
              count(*) FILTER (WHERE a.status <> 'revoked' AND a.duplicated_at IS NOT NULL)::int AS duplicated,
              sum(a.spool_entries)::float8 AS entries, sum(a.spool_dropped)::float8 AS dropped
         FROM agents a LEFT JOIN sites s ON s.id = a.site_id
        GROUP BY a.status, a.version, a.site_id, s.name`,
    );
    const summary: AgentsSummary = { total: 0, byStatus: { enrolled: 0, online: 0, offline: 0, revoked: 0 }, byVersion: [], bySite: [], spool: { agents: 0, entries: 0, dropped: 0 }, configPending: 0, clockSkewed: 0, duplicated: 0 };
    const versions = new Map<string, number>();
    const sites = new Map<string | null, { siteId: string | null; site: string | null; agents: number }>();
    for (const g of groups) {
      summary.total += g.agents;
      summary.byStatus[g.status] += g.agents;
      versions.set(g.version, (versions.get(g.version) ?? 0) + g.agents);
      const site = sites.get(g.site_id) ?? { siteId: g.site_id, site: g.site, agents: 0 };
      site.agents += g.agents;
      sites.set(g.site_id, site);
      summary.spool.agents += g.spooling;
      summary.spool.entries += g.entries;
      summary.spool.dropped += g.dropped;
      summary.configPending += g.pending;
      summary.clockSkewed += g.skewed;
      summary.duplicated += g.duplicated;
    }
    summary.byVersion = [...versions].map(([version, agents]) => ({ version, agents })).sort((x, y) => y.agents - x.agents || (x.version < y.version ? -1 : 1));
    summary.bySite = [...sites.values()].sort((x, y) => y.agents - x.agents || (x.site ?? '\uffff').localeCompare(y.site ?? '\uffff'));
    return summary;
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<AgentView> {
    const row = await this.db.getRepository(AgentEntity).findOneBy({ id });
    if (!row) throw new DomainError('not_found', `agent ${id} does not exist`);
    return view(row, await this.siteNames([row]));
  }

  /**
   * The agent's recent boots (each start of its process), newest first: the host each reported,
   * when it was first seen and when its polls last took over. Two boots polling in the same
   * minutes are two processes with one identity (`agent-duplicated`); their hosts say which
   * machines to enrol again.
   */
  @Get(':id/boots')
  async boots(@Param('id', UUID_PARAM) id: string): Promise<{ items: AgentBootView[] }> {
    await this.get(id); // 404 for an unknown agent
    const rows: { boot_id: string; hostname: string | null; os_platform: string | null; os_release: string | null; os_description: string | null; first_seen_at: Date; polled_at: Date | null; current: boolean }[] =
      await this.db.query(
        `SELECT b.boot_id, b.hostname, b.os_platform, b.os_release, b.os_description, b.first_seen_at, b.polled_at, b.boot_id = a.boot_id AS current
           FROM agent_boots b JOIN agents a ON a.id = b.agent_id
          WHERE b.agent_id = $1 ORDER BY greatest(b.polled_at, b.first_seen_at) DESC, b.boot_id`,
        [id],
      );
    return {
      items: rows.map((r) => ({
        boot: r.boot_id,
        current: r.current,
        hostname: r.hostname,
        os: r.os_platform === null ? null : { platform: r.os_platform, release: r.os_release ?? '', description: r.os_description },
        firstSeenAt: r.first_seen_at,
        tookOverAt: r.polled_at,
      })),
    };
  }

  /** Revokes the agent: every later call with its secret gets 401. */
  @Post(':id/revoke')
  @HttpCode(200)
  async revoke(@Param('id', UUID_PARAM) id: string): Promise<AgentView> {
    await this.secrets.revoke(id);
    return this.get(id);
  }

  /** Authentication failures this replica has seen since it started (all agents, and unknown callers). */
  @Get('-/auth-failures')
  authFailures(): { total: number } {
    return { total: this.directory.authFailures };
  }

  private async siteNames(rows: AgentEntity[]): Promise<Map<string, string>> {
    const ids = [...new Set(rows.map((r) => r.siteId).filter((id): id is string => id !== null))];
    if (!ids.length) return new Map();
    return new Map((await this.db.getRepository(SiteEntity).findBy(ids.map((id) => ({ id })))).map((s) => [s.id, s.name]));
  }
}

function view(row: AgentEntity, sites: Map<string, string>): AgentView {
  return {
    id: row.id,
    name: row.name,
    hostname: row.hostname,
    status: row.status,
    version: row.version,
    features: row.features,
    os: { platform: row.osPlatform, release: row.osRelease, description: row.osDescription },
    site: row.siteId ? (sites.get(row.siteId) ?? null) : null,
    deviceId: row.deviceId,
    scanner: row.scanner,
    lastSeenAt: row.lastSeenAt,
    spool: { entries: row.spoolEntries, dropped: row.spoolDropped },
    config: { version: row.configVersion, applied: row.appliedConfigVersion, pending: row.status !== 'revoked' && row.appliedConfigVersion !== row.configVersion },
    clock: { offsetMs: row.clockOffsetMs === null ? null : Number(row.clockOffsetMs), skewed: row.clockSkewed },
    duplicatedAt: row.duplicatedAt,
    authFailures: row.authFailures,
    enrolledAt: row.enrolledAt,
    revokedAt: row.revokedAt,
  };
}
