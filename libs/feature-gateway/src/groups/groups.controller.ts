import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { DeviceGroupEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { requireExisting } from '../http/references';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';

const CreateGroupSchema = z.object({ name: z.string().trim().min(1).max(200) }).strict();
const MembersSchema = z.object({ deviceIds: z.array(z.uuid()).min(1).max(10_000) }).strict();

export interface GroupView {
  id: string;
  name: string;
  createdAt: Date;
  devices: number;
}

/** Device groups: the scope of planned changes, a filter of events and reports. */
@Controller('groups')
export class GroupsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Post()
  async create(@Body(new ZodValidationPipe(CreateGroupSchema)) body: z.infer<typeof CreateGroupSchema>): Promise<GroupView> {
    if (await this.db.getRepository(DeviceGroupEntity).existsBy({ name: body.name })) throw new DomainError('conflict', `a group named "${body.name}" already exists`, { field: 'name' });
    const row = await this.db.getRepository(DeviceGroupEntity).save({ id: randomUUID(), name: body.name, createdAt: new Date() });
    return { ...row, devices: 0 };
  }

  @Get()
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<GroupView>> {
    const page = await listNewestFirst(this.db, DeviceGroupEntity, query);
    const counts = await this.counts(page.items.map((g) => g.id));
    return { items: page.items.map((g) => ({ ...g, devices: counts.get(g.id) ?? 0 })), nextCursor: page.nextCursor };
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<GroupView & { deviceIds: string[] }> {
    const group = await this.group(id);
    const members: { device_id: string }[] = await this.db.query('SELECT device_id FROM device_group_members WHERE group_id = $1 ORDER BY device_id LIMIT 10000', [id]);
    return { ...group, devices: members.length, deviceIds: members.map((m) => m.device_id) };
  }

  @Post(':id/members')
  @HttpCode(200)
  async add(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(MembersSchema)) body: z.infer<typeof MembersSchema>): Promise<{ added: number }> {
    await this.group(id);
    const ids = [...new Set(body.deviceIds)];
    await requireExisting(this.db, 'devices', ids, 'deviceIds');
    const rows: unknown[] = await this.db.query(
      'INSERT INTO device_group_members (group_id, device_id) SELECT $1, d FROM unnest($2::uuid[]) AS d ON CONFLICT DO NOTHING RETURNING device_id',
      [id, ids],
    );
    return { added: rows.length };
  }

  @Delete(':id/members/:deviceId')
  @HttpCode(200)
  async remove(@Param('id', UUID_PARAM) id: string, @Param('deviceId', UUID_PARAM) deviceId: string): Promise<{ removed: number }> {
    await this.group(id);
    const rows: unknown[] = await this.db.query('WITH d AS (DELETE FROM device_group_members WHERE group_id = $1 AND device_id = $2 RETURNING device_id) SELECT * FROM d', [id, deviceId]);
    return { removed: rows.length };
  }

  private async group(id: string): Promise<GroupView> {
    const group = await this.db.getRepository(DeviceGroupEntity).findOneBy({ id });
    if (!group) throw new DomainError('not_found', `group ${id} does not exist`);
    return { ...group, devices: 0 };
  }

  private async counts(ids: string[]): Promise<Map<string, number>> {
    if (!ids.length) return new Map();
    const rows: { group_id: string; n: number }[] = await this.db.query('SELECT group_id, count(*)::int AS n FROM device_group_members WHERE group_id = ANY($1::uuid[]) GROUP BY group_id', [ids]);
    return new Map(rows.map((r) => [r.group_id, r.n]));
  }
}
