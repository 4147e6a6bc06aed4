import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import {
  ApprovePlannedChange,
  ApprovePlannedChangeSchema,
  ConfirmProposals,
  ConfirmProposalsSchema,
  CreatePlannedChange,
  CreatePlannedChangeSchema,
  ExtendWithEvents,
  ExtendWithEventsSchema,
  ListPlannedChanges,
  ListPlannedChangesSchema,
  PlanFromEvents,
  PlanFromEventsSchema,
  Reevaluate,
  ReevaluateSchema,
  UpdatePlannedChange,
  UpdatePlannedChangeSchema,
} from './planned-change.dto';
import { ReevaluationResult } from './planned-change.reevaluator';
import { PlannedChangeDetail, PlannedChangesService, PlannedChangeView } from './planned-changes.service';

@Controller('planned-changes')
export class PlannedChangesController {
  constructor(private readonly planned: PlannedChangesService) {}

  @Post()
  create(@Body(new ZodValidationPipe(CreatePlannedChangeSchema)) body: CreatePlannedChange): Promise<PlannedChangeView> {
    return this.planned.create(body);
  }

  /** A draft that plans exactly the selected change events. */
  @Post('from-events')
  fromEvents(@Body(new ZodValidationPipe(PlanFromEventsSchema)) body: PlanFromEvents): Promise<PlannedChangeView> {
    return this.planned.fromEvents(body);
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListPlannedChangesSchema, 'query')) query: ListPlannedChanges): Promise<Page<PlannedChangeView>> {
    return this.planned.list(query);
  }

  @Get(':id')
  get(@Param('id', UUID_PARAM) id: string): Promise<PlannedChangeDetail> {
    return this.planned.get(id);
  }

  @Patch(':id')
  update(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdatePlannedChangeSchema)) body: UpdatePlannedChange): Promise<PlannedChangeView> {
    return this.planned.update(id, body);
  }

  @Post(':id/approve')
  @HttpCode(200)
  approve(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ApprovePlannedChangeSchema)) body: ApprovePlannedChange) {
    return this.planned.approve(id, body);
  }

  @Post(':id/reevaluate')
  @HttpCode(200)
  reevaluate(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ReevaluateSchema)) body: Reevaluate): Promise<ReevaluationResult> {
    return this.planned.reevaluate(id, body.since, body.requestedBy);
  }

  @Post(':id/events')
  @HttpCode(200)
  extend(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ExtendWithEventsSchema)) body: ExtendWithEvents): Promise<PlannedChangeView> {
    return this.planned.extendWithEvents(id, body);
  }

  @Post(':id/proposals/confirm')
  @HttpCode(200)
  confirm(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ConfirmProposalsSchema)) body: ConfirmProposals): Promise<PlannedChangeView> {
    return this.planned.confirmProposals(id, body);
  }
}
