import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EntityManager, DataSource } from 'typeorm';
import { DomainError, EnrolRequest, EnrolResponse, ReenrolRequest } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentEntity, DeviceEntity, EnrollmentTokenEntity, SiteEntity } from '@portolan/persistence';
import { agentEvent, DATA_SOURCE, EventRecorder, LOGGER } from '@portolan/platform';
import { groupsFor } from '../enrollment/group-rules';
import { AgentDirectory, AuthenticatedAgent } from './agent.directory';
import { credentialMatches, hashCredential, newAgentSecret } from './agent-credentials';

/** What an enrolment (or a clone's re-enrolment) says of the host, beside the token. */
type HostToEnrol = Omit<EnrolRequest, 'token'>;

/** RFC 1123 host names (and IPv4/IPv6 literals, for hosts without a name). */
const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^[0-9a-fA-F:.]+$/;

/**
 * Exchanges an enrolment token for an agent identity: checks the token (known, not revoked,
 * not expired, uses left) and spends one use, creates the agent's own host device, places it
 * in groups by the token's rules, and stores the new agent with the SHA-256 of a fresh secret,
 * all in one transaction. The secret is answered once and never stored.
 *
 * A clone (a process the hub told that another host keeps the identity it polls with, see
 * `AgentBoots`) is enrolled the same way for its own host, with a use of the token its shared
 * identity was enrolled with (`reenrol`).
 */
@Injectable()
export class EnrolmentService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly events: EventRecorder,
    private readonly directory: AgentDirectory,
  ) {}

  async enrol(request: EnrolRequest, remote: string | undefined): Promise<EnrolResponse> {
    checkHostName(request.hostname);
    const secret = newAgentSecret();
    const result = await this.db.transaction(async (manager) => this.createAgent(manager, await this.spendToken(manager, request.token), request, secret));
    this.logger.info({ agentId: result.agentId, deviceId: result.deviceId, tokenId: result.tokenId, hostname: request.hostname, groups: result.groups, remote }, 'agent enrolled');
    if (request.scanner && !result.scanner) this.logger.warn({ agentId: result.agentId }, 'agent asked to scan but its enrolment token does not allow scanning agents');
    return { agentId: result.agentId, secret, deviceId: result.deviceId, site: result.site, groups: result.groups };
  }

  /**
   * An identity of its own for a clone: the process of `request.boot`, which polls with the
   * calling agent's identity while the hub keeps that identity with another process. Enrolled as
   * by the token the shared identity was enrolled with, which must still allow it (not revoked or
   * expired, a use left), and announced on the shared identity (`agent-clone-enrolled`). Asked
   * again by the same boot (its answer lost), it answers the same agent with a new secret.
   */
  async reenrol(agent: AuthenticatedAgent, request: ReenrolRequest, remote: string | undefined): Promise<EnrolResponse> {
    checkHostName(request.hostname);
    const secret = newAgentSecret();
    const { answer, recorded, again } = await this.db.transaction(async (manager) => {
      // The boot's row first, then the agents' rows in id order: as the boots' and certificates' writes lock them.
      const [boot]: { reenrolled_as: string | null }[] = await manager.query(`SELECT reenrolled_as FROM agent_boots WHERE agent_id = $1 AND boot_id = $2 FOR UPDATE`, [agent.id, request.boot]);
      if (!boot) throw new DomainError('conflict', `boot ${request.boot} has not polled as agent ${agent.id}`, { agentId: agent.id, boot: request.boot });
      const rows: { id: string; status: string; duplicated_at: Date | null; kept: string | null; token_id: string | null; scanner: boolean; last_seen_at: Date | null }[] = await manager.query(
        `SELECT id, status, duplicated_at, duplicate_kept_boot AS kept, token_id, scanner, last_seen_at FROM agents WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
        [[agent.id, boot.reenrolled_as].filter((id): id is string => id !== null)],
      );
      const shared = rows.find((r) => r.id === agent.id && r.status !== 'revoked');
      if (!shared?.duplicated_at || !shared.kept) throw new DomainError('conflict', `agent ${agent.id} is not polled by two processes: this one keeps its identity`, { agentId: agent.id });
      if (shared.kept === request.boot) throw new DomainError('conflict', `the process of boot ${request.boot} keeps the identity of agent ${agent.id}; the other one is to enrol anew`, { agentId: agent.id, boot: request.boot });
      const before = rows.find((r) => r.id === boot.reenrolled_as && r.status !== 'revoked');
      if (before) {
        // Its answer was lost: the same agent, with a new secret; but only while nothing has used the first.
        if (before.last_seen_at) throw new DomainError('conflict', `boot ${request.boot} was enrolled anew as agent ${before.id}, which has polled since: that agent's own credentials are to be used`, { agentId: agent.id, boot: request.boot });
        return { answer: await this.answerAgain(manager, before.id, secret), recorded: [], again: true };
      }
      const token = await this.spendTokenOf(manager, agent.id, shared.token_id);
      // A clone is no more a scanning agent than the identity it shared.
      const created = await this.createAgent(manager, token, { ...request, scanner: request.scanner && shared.scanner }, secret);
      await manager.query(`UPDATE agent_boots SET reenrolled_as = $3, reenrolled_at = now() WHERE agent_id = $1 AND boot_id = $2`, [agent.id, request.boot, created.agentId]);
      const event = agentEvent(agent, new Date(), 'agent-clone-enrolled', { boot: request.boot, hostname: request.hostname, newAgentId: created.agentId, newDeviceId: created.deviceId });
      return { answer: created, recorded: await this.events.insert(manager, [event]), again: false };
    });
    if (again) this.directory.credentialsChanged(answer.agentId, 'rotated');
    this.logger.info(
      { agentId: answer.agentId, deviceId: answer.deviceId, sharedAgentId: agent.id, boot: request.boot, hostname: request.hostname, groups: answer.groups, remote, again },
      'a clone of an agent enrolled with an identity of its own',
    );
    await this.events.announce(recorded);
    return { agentId: answer.agentId, secret, deviceId: answer.deviceId, site: answer.site, groups: answer.groups };
  }

  /** The agent a clone's boot became before (its row locked), with a new secret: the answer that carried the first was lost. */
  private async answerAgain(manager: EntityManager, agentId: string, secret: string): Promise<Omit<EnrolResponse, 'secret'>> {
    const [rows]: [{ device_id: string; site_id: string | null }[], number] = await manager.query(
      `UPDATE agents SET secret_hash = $2, secret_rotated_at = now() WHERE id = $1 RETURNING device_id, site_id`,
      [agentId, hashCredential(secret)],
    );
    const { device_id: deviceId, site_id: siteId } = rows[0];
    const site = siteId ? await manager.findOneBy(SiteEntity, { id: siteId }) : null;
    const groups: { name: string }[] = await manager.query(
      `SELECT g.name FROM device_group_members m JOIN device_groups g ON g.id = m.group_id WHERE m.device_id = $1 ORDER BY g.name`,
      [deviceId],
    );
    return { agentId, deviceId, site: site?.name ?? 'default', groups: groups.map((g) => g.name) };
  }

  /** Creates the host's device (in the token's groups) and the agent, in the caller's transaction. */
  private async createAgent(manager: EntityManager, token: EnrollmentTokenEntity, request: HostToEnrol, secret: string): Promise<CreatedAgent> {
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
      features: request.features ?? [],
      siteId: token.siteId,
      deviceId: device.id,
      tokenId: token.id,
      scanner: request.scanner && token.scanner,
      secretHash: hashCredential(secret),
      status: 'enrolled',
      enrolledAt: new Date(),
    });
    return { agentId, deviceId: device.id, site: site?.name ?? 'default', groups, tokenId: token.id, scanner: request.scanner && token.scanner };
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
    const unusable = tokenUnusable(row);
    if (unusable) throw new DomainError('unauthorized', `enrolment token ${unusable}`);
    return spend(manager, row);
  }

  /** Spends a use of the token a shared identity was enrolled with, for its clone. */
  private async spendTokenOf(manager: EntityManager, agentId: string, tokenId: string | null): Promise<EnrollmentTokenEntity> {
    const row = tokenId ? await manager.getRepository(EnrollmentTokenEntity).createQueryBuilder('t').where('t.id = :id', { id: tokenId }).setLock('pessimistic_write').getOne() : null;
    const unusable = row ? tokenUnusable(row) : 'is gone';
    if (unusable || !row) {
      throw new DomainError(
        'conflict',
        `the enrolment token agent ${agentId} was enrolled with ${unusable}: this clone of it cannot be given an identity of its own; stop it, or remove its state directory and enrol it with a new token`,
        { agentId, ...(tokenId ? { tokenId } : {}) },
      );
    }
    return spend(manager, row);
  }

  private async joinGroups(manager: EntityManager, deviceId: string, groups: string[]): Promise<void> {
    for (const name of groups) {
      await manager.query(`INSERT INTO device_groups (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [randomUUID(), name]);
      await manager.query(`INSERT INTO device_group_members (group_id, device_id) SELECT id, $2 FROM device_groups WHERE name = $1 ON CONFLICT DO NOTHING`, [name, deviceId]);
    }
  }
}

interface CreatedAgent {
  readonly agentId: string;
  readonly deviceId: string;
  readonly site: string;
  readonly groups: string[];
  readonly tokenId: string;
  readonly scanner: boolean;
}

function checkHostName(hostname: string): void {
  if (!HOST_NAME.test(hostname)) throw new DomainError('invalid_payload', `hostname "${hostname.slice(0, 80)}" is not a valid host name`, { field: 'hostname' });
}

/** Spends a use of a token (its row locked by the caller). */
async function spend(manager: EntityManager, row: EnrollmentTokenEntity): Promise<EnrollmentTokenEntity> {
  await manager.update(EnrollmentTokenEntity, row.id, { uses: row.uses + 1 });
  return row;
}

/** Why a token cannot enrol an agent now (`<hint>… was revoked`, ...); undefined when it can. */
function tokenUnusable(row: EnrollmentTokenEntity): string | undefined {
  if (row.revokedAt) return `${row.tokenHint}… was revoked`;
  if (row.expiresAt.getTime() <= Date.now()) return `${row.tokenHint}… expired at ${row.expiresAt.toISOString()}`;
  if (row.uses >= row.maxUses) return `${row.tokenHint}… is used up (${row.uses} of ${row.maxUses} uses)`;
  return undefined;
}
