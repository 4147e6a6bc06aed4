import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { Page } from '../http/pagination';
import { CurrentOperator } from '../operators/operator-auth.guard';
import type { OperatorIdentity } from '../operators/operator-tokens.service';
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
  create(@Body(new ZodValidationPipe(CreatePlannedChangeSchema)) body: CreatePlannedChange, @CurrentOperator() operator: OperatorIdentity): Promise<PlannedChangeView> {
    return this.planned.create(body, operator);
  }

  /** A draft that plans exactly the selected change events. */
  @Post('from-events')
  fromEvents(@Body(new ZodValidationPipe(PlanFromEventsSchema)) body: PlanFromEvents, @CurrentOperator() operator: OperatorIdentity): Promise<PlannedChangeView> {
    return this.planned.fromEvents(body, operator);
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
  update(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdatePlannedChangeSchema)) body: UpdatePlannedChange, @CurrentOperator() operator: OperatorIdentity): Promise<PlannedChangeView> {
    return this.planned.update(id, body, operator);
  }

  @Post(':id/approve')
  @HttpCode(200)
  approve(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ApprovePlannedChangeSchema)) body: ApprovePlannedChange, @CurrentOperator() operator: OperatorIdentity) {
    return this.planned.approve(id, body, operator);
  }

  @Post(':id/reevaluate')
  @HttpCode(200)
  reevaluate(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ReevaluateSchema)) body: Reevaluate, @CurrentOperator() operator: OperatorIdentity): Promise<ReevaluationResult> {
    return this.planned.reevaluate(id, body.since, body.requestedBy, operator);
  }

  @Post(':id/events')
  @HttpCode(200)
  extend(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ExtendWithEventsSchema)) body: ExtendWithEvents, @CurrentOperator() operator: OperatorIdentity): Promise<PlannedChangeView> {
    return this.planned.extendWithEvents(id, body, operator);
  }

  @Post(':id/proposals/confirm')
  @HttpCode(200)
  confirm(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ConfirmProposalsSchema)) body: ConfirmProposals, @CurrentOperator() operator: OperatorIdentity): Promise<PlannedChangeView> {
    return this.planned.confirmProposals(id, body, operator);
  }
}
