import { Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { AgentEntity, SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { AgentSecretsService } from '../agent-api/agent-secrets.service';
import { AgentDirectory } from '../agent-api/agent.directory';
import { decodeCursor, LimitSchema, Page, pageOf } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';

const AgentsQuerySchema = z.object({
  limit: LimitSchema(500, 100),
  cursor: z.string().max(200).optional(),
  status: z.enum(['enrolled', 'online', 'offline', 'revoked']).optional(),
});

export interface AgentView {
  id: string;
  name: string;
  hostname: string;
  status: AgentEntity['status'];
  version: string;
  os: { platform: string; release: string; description: string | null };
  site: string | null;
  deviceId: string;
  scanner: boolean;
  lastSeenAt: Date | null;
  spool: { entries: number; dropped: number };
  authFailures: number;
  enrolledAt: Date;
  revokedAt: Date | null;
}

@Controller('agents')
export class AgentsController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly secrets: AgentSecretsService,
    private readonly directory: AgentDirectory,
  ) {}

  /** Agents, newest enrolment first: status, version, OS, site, last seen, spool depth reported by the agent. */
  @Get()
  async list(@Query(new ZodValidationPipe(AgentsQuerySchema, 'query')) query: z.infer<typeof AgentsQuerySchema>): Promise<Page<AgentView>> {
    const qb = this.db.getRepository(AgentEntity).createQueryBuilder('a').orderBy('a.enrolled_at', 'DESC').addOrderBy('a.id', 'DESC').take(query.limit + 1);
    if (query.status) qb.andWhere('a.status = :status', { status: query.status });
    if (query.cursor) {
      const { at, id } = decodeCursor(query.cursor);
      qb.andWhere('(a.enrolled_at, a.id) < (:at, :id)', { at, id });
    }
    const rows = await qb.getMany();
    const sites = await this.siteNames(rows);
    const page = pageOf(rows, query.limit, (row) => row.enrolledAt);
    return { items: page.items.map((row) => view(row, sites)), nextCursor: page.nextCursor };
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<AgentView> {
    const row = await this.db.getRepository(AgentEntity).findOneBy({ id });
    if (!row) throw new DomainError('not_found', `agent ${id} does not exist`);
    return view(row, await this.siteNames([row]));
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
    os: { platform: row.osPlatform, release: row.osRelease, description: row.osDescription },
    site: row.siteId ? (sites.get(row.siteId) ?? null) : null,
    deviceId: row.deviceId,
    scanner: row.scanner,
    lastSeenAt: row.lastSeenAt,
    spool: { entries: row.spoolEntries, dropped: row.spoolDropped },
    authFailures: row.authFailures,
    enrolledAt: row.enrolledAt,
    revokedAt: row.revokedAt,
  };
}
