import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { OperatorTokenEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CurrentOperator } from './operator-auth.guard';
import { CreateOperatorToken, CreateOperatorTokenSchema, OperatorIdentity, OperatorTokensService, OperatorTokenView } from './operator-tokens.service';
import { Access } from './route-access';

/** Tokens of the operator API: admins make, list and revoke them; anyone with one may ask who it is. */
@Controller('operator-tokens')
@Access('admin')
export class OperatorTokensController {
  constructor(
    private readonly tokens: OperatorTokensService,
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  /** Answers the token once; afterwards only its first characters (`tokenHint`) are shown. */
  @Post()
  create(@Body(new ZodValidationPipe(CreateOperatorTokenSchema)) body: CreateOperatorToken, @CurrentOperator() operator: OperatorIdentity): Promise<OperatorTokenView & { token: string }> {
    return this.tokens.create(body, operator);
  }

  @Get()
  list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<OperatorTokenEntity>> {
    return listNewestFirst(this.db, OperatorTokenEntity, query);
  }

  /** The calling token: its id, name and role. */
  @Get('current')
  @Access('operator')
  current(@CurrentOperator() operator: OperatorIdentity): OperatorIdentity {
    return operator;
  }

  @Post(':id/revoke')
  @HttpCode(200)
  revoke(@Param('id', UUID_PARAM) id: string, @CurrentOperator() operator: OperatorIdentity): Promise<OperatorTokenView> {
    return this.tokens.revoke(id, operator);
  }
}
