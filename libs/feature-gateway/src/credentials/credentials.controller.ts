import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { CredentialEntity } from '@portolan/persistence';
import { CredentialVault, DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';
import { CreateCredential, CreateCredentialSchema, CredentialsService, CredentialView, UpdateCredential, UpdateCredentialSchema } from './credentials.service';

/** Credentials: secrets go in, never out (views say which secrets are stored, not what they are). */
@Controller('credentials')
export class CredentialsController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly credentials: CredentialsService,
    private readonly vault: CredentialVault,
  ) {}

  @Post()
  create(@Body(new ZodValidationPipe(CreateCredentialSchema)) body: CreateCredential): Promise<CredentialView> {
    return this.credentials.create(body);
  }

  @Get()
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<CredentialView>> {
    const page = await listNewestFirst(this.db, CredentialEntity, query);
    return { items: page.items.map((c) => this.credentials.view(c)), nextCursor: page.nextCursor };
  }

  /** Re-encrypts every credential with the active master key (the last step of a key rotation). */
  @Post('reseal')
  @HttpCode(200)
  reseal(): Promise<{ total: number; resealed: number; activeKeyId: string }> {
    return this.vault.reseal();
  }

  @Get(':id')
  async get(@Param('id', UUID_PARAM) id: string): Promise<CredentialView> {
    return this.credentials.view(await this.credentials.get(id));
  }

  @Patch(':id')
  update(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdateCredentialSchema)) body: UpdateCredential): Promise<CredentialView> {
    return this.credentials.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id', UUID_PARAM) id: string): Promise<void> {
    return this.credentials.remove(id);
  }
}
