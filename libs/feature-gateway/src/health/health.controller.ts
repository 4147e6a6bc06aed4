import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Bus } from '@portolan/bus';
import { BUS, DATA_SOURCE, SERVICE_INFO, ServiceInfo } from '@portolan/platform';
import { Access } from '../operators/route-access';

/** Readiness: the database answers and the bus is connected. 503 otherwise. Not logged. */
@Controller('health')
@Access('public')
export class HealthController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
  ) {}

  @Get()
  async check(@Res() response: Response): Promise<void> {
    const database = await this.db
      .query('SELECT 1')
      .then(() => ({ ok: true, detail: this.db.driver.options.type === 'postgres' && 'url' in this.db.options && this.db.options.url ? 'postgres' : 'pglite' }))
      .catch((error: unknown) => ({ ok: false, detail: String(error) }));
    const bus = await this.bus.health();
    const ok = database.ok && bus.ok;
    response.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'unavailable',
      service: this.service.name,
      version: this.service.version,
      uptimeSeconds: Math.round((Date.now() - this.service.startedAt.getTime()) / 1000),
      database,
      bus,
    });
  }
}
