import { Controller, Get, Inject, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { WorkerEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { decodeKeyCursor, encodeKeyCursor, LimitSchema, Page } from '../http/pagination';
import { ZodValidationPipe } from '../http/zod-validation.pipe';

export const WorkersQuerySchema = z
  .object({
    site: z.string().min(1).max(63).optional(),
    kind: z.enum(['scanner', 'collector']).optional(),
    status: z.enum(['online', 'offline', 'stopped']).optional(),
    limit: LimitSchema(2000, 500),
    cursor: z.string().max(1200).optional(),
  })
  .strict();
type WorkersQuery = z.infer<typeof WorkersQuerySchema>;

/**
 * The scanner workers and collectors the hub has heard from (their presence, every 15 s), by
 * site, kind and name: `online`, `offline` (silent past the threshold; a `worker-offline` event
 * said so) or `stopped` (it said it was stopping). `site` also matches the workers that serve
 * every site (`*`). Pages of `limit`, by site, kind and name, follow `nextCursor`. Those stopped
 * or silent for a week are forgotten. A row follows the name's latest process (`startedAt`);
 * `otherStartedAt`, `otherSeenAt` and `otherState` tell of another process under the name: the
 * one it replaced while online, until judged (`replaced`), one speaking beside it (`conflict`, a
 * `worker-name-conflict`), or one that said it stopped; `restarts` counts restarts without a
 * word not yet reported (`worker-restarted`).
 */
@Controller('workers')
export class WorkersController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Get()
  async list(@Query(new ZodValidationPipe(WorkersQuerySchema, 'query')) query: WorkersQuery): Promise<Page<WorkerEntity>> {
    const q = this.db.getRepository(WorkerEntity).createQueryBuilder('w').orderBy('w.site').addOrderBy('w.kind').addOrderBy('w.name').limit(query.limit + 1);
    if (query.site) q.andWhere("(w.site = :site OR w.site = '*')", { site: query.site });
    if (query.kind) q.andWhere('w.kind = :kind', { kind: query.kind });
    if (query.status) q.andWhere('w.status = :status', { status: query.status });
    if (query.cursor) {
      const [site, kind, name] = decodeKeyCursor(query.cursor, 3);
      q.andWhere('(w.site, w.kind, w.name) > (:afterSite, :afterKind, :afterName)', { afterSite: site, afterKind: kind, afterName: name });
    }
    const rows = await q.getMany();
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeKeyCursor([last.site, last.kind, last.name]) : null };
  }
}
