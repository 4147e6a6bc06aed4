import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { CurrentOperator } from '../operators/operator-auth.guard';
import type { OperatorIdentity } from '../operators/operator-tokens.service';
import { CancelJob, CancelJobSchema, JobsService, JobSummary, JobView, ListJobsQuery, ListJobsQuerySchema } from './jobs.service';

@Controller('jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Get()
  list(@Query(new ZodValidationPipe(ListJobsQuerySchema, 'query')) query: ListJobsQuery): Promise<Page<JobSummary>> {
    return this.jobs.list(query);
  }

  @Get(':id')
  get(@Param('id', UUID_PARAM) id: string): Promise<JobView> {
    return this.jobs.get(id);
  }

  /** Stops a scan under way or not started: see `JobsService.cancel`. */
  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(CancelJobSchema)) body: CancelJob, @CurrentOperator() operator: OperatorIdentity): Promise<JobView> {
    return this.jobs.cancel(id, body, operator);
  }
}
