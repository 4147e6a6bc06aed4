import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { EnrollmentTokenEntity, SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { hashCredential, newEnrollmentToken } from '../agent-api/agent-credentials';
import { GroupRuleSchema, validateGroupRules } from './group-rules';

const MAX_LIFETIME_HOURS = 24 * 365;

export const CreateEnrollmentTokenSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    siteId: z.uuid().optional(),
    /** Hours until the token stops working (default 24). */
    expiresInHours: z.number().positive().max(MAX_LIFETIME_HOURS).optional(),
    maxUses: z.number().int().min(1).max(1_000_000).default(1),
    groupRules: z.array(GroupRuleSchema).max(100).default([]),
    scanner: z.boolean().default(false),
  })
  .strict();
export type CreateEnrollmentToken = z.infer<typeof CreateEnrollmentTokenSchema>;

/** A token as listed: never the token itself, which is shown once, when created. */
export type EnrollmentTokenView = Omit<EnrollmentTokenEntity, 'tokenHash'>;

@Injectable()
export class EnrollmentTokensService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async create(body: CreateEnrollmentToken): Promise<EnrollmentTokenView & { token: string }> {
    validateGroupRules(body.groupRules);
    if (body.siteId && !(await this.db.getRepository(SiteEntity).existsBy({ id: body.siteId }))) {
      throw new DomainError('invalid_payload', `siteId ${body.siteId} does not exist`, { field: 'siteId' });
    }
    const token = newEnrollmentToken();
    const now = new Date();
    const row: EnrollmentTokenEntity = Object.assign(new EnrollmentTokenEntity(), {
      id: randomUUID(),
      name: body.name,
      tokenHash: hashCredential(token),
      tokenHint: token.slice(0, 9),
      siteId: body.siteId ?? null,
      expiresAt: new Date(now.getTime() + (body.expiresInHours ?? 24) * 3_600_000),
      maxUses: body.maxUses,
      uses: 0,
      groupRules: body.groupRules,
      scanner: body.scanner,
      createdAt: now,
      revokedAt: null,
    });
    await this.db.getRepository(EnrollmentTokenEntity).insert(row);
    this.logger.info({ tokenId: row.id, hint: row.tokenHint, maxUses: row.maxUses, expiresAt: row.expiresAt }, 'enrolment token created');
    const { tokenHash: _hash, ...view } = row;
    return { ...view, token };
  }

  async revoke(id: string): Promise<EnrollmentTokenView> {
    const repository = this.db.getRepository(EnrollmentTokenEntity);
    const row = await repository.findOneBy({ id });
    if (!row) throw new DomainError('not_found', `enrolment token ${id} does not exist`);
    if (!row.revokedAt) {
      row.revokedAt = new Date();
      await repository.update(id, { revokedAt: row.revokedAt });
      this.logger.info({ tokenId: id }, 'enrolment token revoked');
    }
    return row;
  }
}
