import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError, SiteNameSchema } from '@portolan/contracts';
import { SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { z } from 'zod';
import { LimitSchema, Page, pageOf, decodeCursor } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';

export const CreateSiteSchema = z.object({ name: SiteNameSchema }).strict();
export const ListQuerySchema = z.object({ limit: LimitSchema(500, 100), cursor: z.string().max(200).optional() });
type ListQuery = z.infer<typeof ListQuerySchema>;

@Controller('sites')
export class SitesController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Post()
  async create(@Body(new ZodValidationPipe(CreateSiteSchema)) body: z.infer<typeof CreateSiteSchema>): Promise<SiteEntity> {
    if (await this.db.getRepository(SiteEntity).existsBy({ name: body.name })) {
      throw new DomainError('conflict', `a site named "${body.name}" already exists`, { field: 'name' });
    }
    return this.db.getRepository(SiteEntity).save({ name: body.name });
  }

  @Get()
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: ListQuery): Promise<Page<SiteEntity>> {
    return listNewestFirst(this.db, SiteEntity, query);
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<SiteEntity> {
    const site = await this.db.getRepository(SiteEntity).findOneBy({ id });
    if (!site) throw new DomainError('not_found', `site ${id} does not exist`);
    return site;
  }
}

/** Keyset listing by (created_at, id) descending for tables that have both. */
export async function listNewestFirst<T extends { id: string; createdAt: Date }>(
  db: DataSource,
  entity: new () => T,
  query: ListQuery,
): Promise<Page<T>> {
  const qb = db.getRepository(entity).createQueryBuilder('e').orderBy('e.created_at', 'DESC').addOrderBy('e.id', 'DESC').take(query.limit + 1);
  if (query.cursor) {
    const { at, id } = decodeCursor(query.cursor);
    qb.where('(e.created_at, e.id) < (:at, :id)', { at, id });
  }
  return pageOf(await qb.getMany(), query.limit, (row) => row.createdAt);
}
