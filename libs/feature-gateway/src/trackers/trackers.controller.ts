import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { TrackerEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CreateTracker, CreateTrackerSchema, TrackersService, UpdateTracker, UpdateTrackerSchema } from './trackers.service';

@Controller('trackers')
export class TrackersController {
  constructor(
    private readonly trackers: TrackersService,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  @Post()
  create(@Body(new ZodValidationPipe(CreateTrackerSchema)) body: CreateTracker): Promise<TrackerEntity> {
    return this.trackers.create(body);
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<TrackerEntity>> {
    return listNewestFirst(this.db, TrackerEntity, query);
  }

  @Get(':id')
  get(@Param('id', UUID_PARAM) id: string): Promise<TrackerEntity> {
    return this.trackers.get(id);
  }

  @Patch(':id')
  update(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdateTrackerSchema)) body: UpdateTracker): Promise<TrackerEntity> {
    return this.trackers.update(id, body);
  }

  @Post(':id/run')
  @HttpCode(202)
  run(@Param('id', UUID_PARAM) id: string): Promise<{ jobId: string }> {
    return this.trackers.runNow(id);
  }
}
