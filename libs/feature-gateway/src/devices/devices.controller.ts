import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError, ItemTypeSchema } from '@portolan/contracts';
import { DeviceEntity, DeviceHostKeyEntity } from '@portolan/persistence';
import { DATA_SOURCE, HostKeyStore } from '@portolan/platform';
import { LimitSchema, Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CreateDeviceSchema, DevicesService, ItemView, PortView } from './devices.service';

const PortsQuerySchema = z.object({ limit: LimitSchema(10_000, 1000), cursor: z.string().max(500).optional() });
const ItemsQuerySchema = PortsQuerySchema.extend({ type: ItemTypeSchema.optional() });
const UpdateDeviceSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    /** Overrides its trackers' "send baseline events"; null: the trackers decide. */
    sendBaselineEvents: z.boolean().nullable().optional(),
  })
  .strict();
const AcceptHostKeySchema = z.object({ fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'fingerprint is SHA256: and 43 base64 characters, as ssh-keygen -lf shows it').optional() }).strict();

@Controller('devices')
export class DevicesController {
  constructor(
    private readonly devices: DevicesService,
    private readonly hostKeys: HostKeyStore,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  @Post()
  create(@Body(new ZodValidationPipe(CreateDeviceSchema)) body: z.infer<typeof CreateDeviceSchema>): Promise<DeviceEntity> {
    return this.devices.create(body);
  }

  @Patch(':id')
  async update(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdateDeviceSchema)) body: z.infer<typeof UpdateDeviceSchema>): Promise<DeviceEntity> {
    const repo = this.db.getRepository(DeviceEntity);
    if (!(await repo.existsBy({ id }))) throw new DomainError('not_found', `device ${id} does not exist`);
    const next: Partial<DeviceEntity> = {};
    if (body.name !== undefined) next.name = body.name;
    if (body.sendBaselineEvents !== undefined) next.sendBaselineEvents = body.sendBaselineEvents;
    if (Object.keys(next).length) await repo.update(id, next);
    return (await repo.findOneBy({ id })) as DeviceEntity;
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<DeviceEntity>> {
    return listNewestFirst(this.db, DeviceEntity, query);
  }

  /** A device; `insecure` when it is read over Telnet (its password crosses the network in clear). */
  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<DeviceEntity & { insecure: boolean; insecureReason: string | null }> {
    const device = await this.db.getRepository(DeviceEntity).findOneBy({ id });
    if (!device) throw new DomainError('not_found', `device ${id} does not exist`);
    const [telnet]: { n: number }[] = await this.db.query(`SELECT count(*)::int AS n FROM trackers WHERE device_id = $1 AND collector->>'protocol' = 'telnet'`, [id]);
    const insecure = telnet.n > 0;
    return { ...device, insecure, insecureReason: insecure ? 'read over Telnet: the login crosses the network in clear' : null };
  }

  /** The current baseline of every item type of the device (or `type` only). */
  @Get(':id/items')
  items(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(ItemsQuerySchema, 'query')) query: z.infer<typeof ItemsQuerySchema>): Promise<Page<ItemView>> {
    return this.devices.items(id, query.type, query.limit, query.cursor);
  }

  /** The SSH host key pinned for the device, and a changed one waiting for an operator. */
  @Get(':id/host-key')
  async hostKey(@Param('id', UUID_PARAM) id: string): Promise<DeviceHostKeyEntity> {
    const key = await this.hostKeys.get(id);
    if (!key) throw new DomainError('not_found', `device ${id} has no pinned SSH host key (no collection has reached it over SSH yet)`);
    return key;
  }

  /** Accepts the changed host key (give the fingerprint checked out of band to accept only that one). */
  @Post(':id/host-key/accept')
  @HttpCode(200)
  acceptHostKey(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(AcceptHostKeySchema)) body: z.infer<typeof AcceptHostKeySchema>): Promise<DeviceHostKeyEntity> {
    return this.hostKeys.accept(id, body.fingerprint);
  }

  /** The current baseline of the device's ports. */
  @Get(':id/ports')
  ports(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(PortsQuerySchema, 'query')) query: z.infer<typeof PortsQuerySchema>): Promise<Page<PortView>> {
    return this.devices.ports(id, query.limit, query.cursor);
  }
}
