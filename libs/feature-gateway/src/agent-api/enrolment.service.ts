import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EntityManager, DataSource } from 'typeorm';
import { DomainError, EnrolRequest, EnrolResponse } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentEntity, DeviceEntity, EnrollmentTokenEntity, SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { groupsFor } from '../enrollment/group-rules';
import { credentialMatches, hashCredential, newAgentSecret } from './agent-credentials';

/** RFC 1123 host names (and IPv4/IPv6 literals, for hosts without a name). */
const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^[0-9a-fA-F:.]+$/;

/**
 * Exchanges an enrolment token for an agent identity: checks the token (known, not revoked,
 * not expired, uses left) and spends one use, creates the agent's own host device, places it
 * in groups by the token's rules, and stores the new agent with the SHA-256 of a fresh secret,
 * all in one transaction. The secret is answered once and never stored.
 */
@Injectable()
export class EnrolmentService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async enrol(request: EnrolRequest, remote: string | undefined): Promise<EnrolResponse> {
    if (!HOST_NAME.test(request.hostname)) {
      throw new DomainError('invalid_payload', `hostname "${request.hostname.slice(0, 80)}" is not a valid host name`, { field: 'hostname' });
    }
    const secret = newAgentSecret();
    const result = await this.db.transaction(async (manager) => {
      const token = await this.spendToken(manager, request.token);
      const site = token.siteId ? await manager.findOneBy(SiteEntity, { id: token.siteId }) : null;
      const device = await manager.save(DeviceEntity, {
        name: request.name,
        kind: 'host',
        address: request.hostname,
        normalizedAddress: request.hostname.toLowerCase(),
        hostCount: 1,
        siteId: token.siteId,
        credentialId: null,
      });
      const os = [request.os.platform, request.os.release, request.os.description ?? ''].join(' ').trim();
      const groups = groupsFor(token.groupRules, { hostname: request.hostname, os });
      await this.joinGroups(manager, device.id, groups);
      const agentId = randomUUID();
      await manager.insert(AgentEntity, {
        id: agentId,
        name: request.name,
        hostname: request.hostname,
        osPlatform: request.os.platform,
        osRelease: request.os.release,
        osDescription: request.os.description ?? null,
        version: request.version,
        siteId: token.siteId,
        deviceId: device.id,
        tokenId: token.id,
        scanner: request.scanner && token.scanner,
        secretHash: hashCredential(secret),
        status: 'enrolled',
        enrolledAt: new Date(),
      });
      return { agentId, deviceId: device.id, site: site?.name ?? 'default', groups, tokenId: token.id, scanner: request.scanner && token.scanner };
    });
    this.logger.info({ agentId: result.agentId, deviceId: result.deviceId, tokenId: result.tokenId, hostname: request.hostname, groups: result.groups, remote }, 'agent enrolled');
    if (request.scanner && !result.scanner) this.logger.warn({ agentId: result.agentId }, 'agent asked to scan but its enrolment token does not allow scanning agents');
    return { agentId: result.agentId, secret, deviceId: result.deviceId, site: result.site, groups: result.groups };
  }

  private async spendToken(manager: EntityManager, token: string): Promise<EnrollmentTokenEntity> {
    const rows = await manager
      .getRepository(EnrollmentTokenEntity)
      .createQueryBuilder('t')
      .addSelect('t.tokenHash')
      .where('t.token_hash = :hash', { hash: hashCredential(token) })
      .setLock('pessimistic_write')
      .getMany();
    const row = rows.find((candidate) => credentialMatches(token, Buffer.from(candidate.tokenHash)));
    if (!row) throw new DomainError('unauthorized', 'unknown enrolment token');
    if (row.revokedAt) throw new DomainError('unauthorized', `enrolment token ${row.tokenHint}… was revoked`);
    if (row.expiresAt.getTime() <= Date.now()) throw new DomainError('unauthorized', `enrolment token ${row.tokenHint}… expired at ${row.expiresAt.toISOString()}`);
    if (row.uses >= row.maxUses) throw new DomainError('unauthorized', `enrolment token ${row.tokenHint}… is used up (${row.uses} of ${row.maxUses} uses)`);
    await manager.update(EnrollmentTokenEntity, row.id, { uses: row.uses + 1 });
    return row;
  }

  private async joinGroups(manager: EntityManager, deviceId: string, groups: string[]): Promise<void> {
    for (const name of groups) {
      await manager.query(`INSERT INTO device_groups (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [randomUUID(), name]);
      await manager.query(`INSERT INTO device_group_members (group_id, device_id) SELECT id, $2 FROM device_groups WHERE name = $1 ON CONFLICT DO NOTHING`, [name, deviceId]);
    }
  }
}
