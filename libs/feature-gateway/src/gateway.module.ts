import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { CredentialsController } from './credentials/credentials.controller';
import { DevicesController } from './devices/devices.controller';
import { DevicesService } from './devices/devices.service';
import { EventsController } from './events/events.controller';
import { HealthController } from './health/health.controller';
import { ErrorFilter } from './http/error.filter';
import { JobsController } from './jobs/jobs.controller';
import { DocsController } from './openapi/docs.controller';
import { SitesController } from './sites/sites.controller';
import { TrackersController } from './trackers/trackers.controller';
import { TrackersService } from './trackers/trackers.service';

/** The hub's REST API under /api. */
@Module({
  controllers: [SitesController, CredentialsController, DevicesController, TrackersController, JobsController, EventsController, HealthController, DocsController],
  providers: [DevicesService, TrackersService, { provide: APP_FILTER, useClass: ErrorFilter }],
})
export class GatewayModule {}
