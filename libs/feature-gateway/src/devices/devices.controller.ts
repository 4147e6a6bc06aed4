import { Body, Controller, Get, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { DeviceEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { LimitSchema, Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CreateDeviceSchema, DevicesService, PortView } from './devices.service';

const PortsQuerySchema = z.object({ limit: LimitSchema(10_000, 1000), cursor: z.string().max(500).optional() });

@Controller('devices')
export class DevicesController {
  constructor(
    private readonly devices: DevicesService,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  @Post()
  create(@Body(new ZodValidationPipe(CreateDeviceSchema)) body: z.infer<typeof CreateDeviceSchema>): Promise<DeviceEntity> {
    return this.devices.create(body);
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<DeviceEntity>> {
    return listNewestFirst(this.db, DeviceEntity, query);
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<DeviceEntity> {
    const device = await this.db.getRepository(DeviceEntity).findOneBy({ id });
    if (!device) throw new DomainError('not_found', `device ${id} does not exist`);
    return device;
  }

  /** The current baseline of the device's ports. */
  @Get(':id/ports')
  ports(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(PortsQuerySchema, 'query')) query: z.infer<typeof PortsQuerySchema>): Promise<Page<PortView>> {
    return this.devices.ports(id, query.limit, query.cursor);
  }
}
