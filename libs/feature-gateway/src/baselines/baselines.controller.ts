import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { CurrentOperator } from '../operators/operator-auth.guard';
import type { OperatorIdentity } from '../operators/operator-tokens.service';
import { ExpectPort, ExpectPortSchema, HistoryQuerySchema, Promote, PromoteSchema, RemoveItem, RemoveItemSchema } from './baseline.dto';
import { BaselineHistoryEntry, BaselinesService, BaselineView } from './baselines.service';

/**
 * A device's baseline (what every tracker of it accepted, per host, with the coverage it was
 * made over and the changes waiting for confirmation), its history, and the operator's changes
 * to it, each with a justification, in the audit log.
 */
@Controller('devices/:id/baseline')
export class BaselinesController {
  constructor(private readonly baselines: BaselinesService) {}

  @Get()
  get(@Param('id', UUID_PARAM) id: string): Promise<BaselineView> {
    return this.baselines.get(id);
  }

  /** Changes that moved the baseline (events) and operators' changes to it (audit), newest first. */
  @Get('history')
  history(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(HistoryQuerySchema, 'query')) query: z.infer<typeof HistoryQuerySchema>): Promise<{ items: BaselineHistoryEntry[] }> {
    return this.baselines.history(id, query.since ? new Date(query.since) : undefined, query.limit);
  }

  /** Accepts a change that waits for confirmation into the baseline now, and reports it. */
  @Post('promote')
  @HttpCode(200)
  promote(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(PromoteSchema)) body: Promote, @CurrentOperator() operator: OperatorIdentity) {
    return this.baselines.promote(id, body, operator);
  }

  /** An expected open port: if a scan does not find it open, that is a `removed` change. */
  @Post('expected-ports')
  @HttpCode(200)
  expect(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(ExpectPortSchema)) body: ExpectPort, @CurrentOperator() operator: OperatorIdentity) {
    return this.baselines.expectPort(id, body, operator);
  }

  /** Takes an item out of the baseline: if a scan still finds it, that is an `added` change. */
  @Post('remove')
  @HttpCode(200)
  remove(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(RemoveItemSchema)) body: RemoveItem, @CurrentOperator() operator: OperatorIdentity) {
    return this.baselines.remove(id, body, operator);
  }
}
