import { Body, Controller, Get, Inject, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { CredentialEntity } from '@portolan/persistence';
import { DATA_SOURCE } from '@portolan/platform';
import { Page } from '../http/pagination';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { listNewestFirst, ListQuerySchema } from '../sites/sites.controller';

/** Only `no-connection-required` for now; typed secrets (ssh, smb, telnet) come with the collectors. */
export const CreateCredentialSchema = z
  .object({ name: z.string().trim().min(1).max(200), type: z.literal('no-connection-required', { message: 'type must be "no-connection-required" (other credential types are not available yet)' }) })
  .strict();

export interface CredentialView {
  id: string;
  name: string;
  type: string;
  createdAt: Date;
}

/** Credentials never leave the hub with their secret: views carry name and type only. */
function view(c: CredentialEntity): CredentialView {
  return { id: c.id, name: c.name, type: c.type, createdAt: c.createdAt };
}

@Controller('credentials')
export class CredentialsController {
  constructor(@Inject(DATA_SOURCE) private readonly db: DataSource) {}

  @Post()
  async create(@Body(new ZodValidationPipe(CreateCredentialSchema)) body: z.infer<typeof CreateCredentialSchema>): Promise<CredentialView> {
    if (await this.db.getRepository(CredentialEntity).existsBy({ name: body.name })) {
      throw new DomainError('conflict', `a credential named "${body.name}" already exists`, { field: 'name' });
    }
    return view(await this.db.getRepository(CredentialEntity).save({ name: body.name, type: body.type, secretCiphertext: null }));
  }

  @Get()
  async list(@Query(new ZodValidationPipe(ListQuerySchema, 'query')) query: z.infer<typeof ListQuerySchema>): Promise<Page<CredentialView>> {
    const page = await listNewestFirst(this.db, CredentialEntity, query);
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  }
}
