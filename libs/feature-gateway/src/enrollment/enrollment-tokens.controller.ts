import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { EnrollmentTokenEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CreateEnrollmentToken, CreateEnrollmentTokenSchema, EnrollmentTokensService, EnrollmentTokenView } from './enrollment-tokens.service';

@Controller('enrollment-tokens')
export class EnrollmentTokensController {
  constructor(
    private readonly tokens: EnrollmentTokensService,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  /** Answers the token once; afterwards only its first characters (`tokenHint`) are shown. */
  @Post()
  create(@Body(new ZodValidationPipe(CreateEnrollmentTokenSchema)) body: CreateEnrollmentToken): Promise<EnrollmentTokenView & { token: string }> {
    return this.tokens.create(body);
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<EnrollmentTokenEntity>> {
    return listNewestFirst(this.db, EnrollmentTokenEntity, query);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  revoke(@Param('id', UUID_PARAM) id: string): Promise<EnrollmentTokenView> {
    return this.tokens.revoke(id);
  }
}
