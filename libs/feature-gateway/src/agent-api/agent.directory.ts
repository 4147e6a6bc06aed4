import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { DomainError, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { AgentStatus } from '@portolan/persistence';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';
import { credentialMatches, parseAgentAuthorization } from './agent-credentials';

/** What a request handler knows about the agent that made it. */
export interface AuthenticatedAgent {
  readonly id: string;
  readonly name: string;
  readonly deviceId: string;
  readonly siteId: string | null;
  readonly scanner: boolean;
}

interface CachedAgent extends AuthenticatedAgent {
  readonly secretHash: Buffer;
  readonly status: AgentStatus;
  readonly loadedAt: number;
}

/**
 * How long a looked-up agent is trusted before the database is asked again. Revocation and
 * rotation reach every replica at once (`agentCredentialsChanged`); this bounds how long a
 * replica that missed that message goes on trusting a revoked or rotated secret.
 */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 50_000;

/**
 * Authenticates agent calls: the secret's SHA-256 compared in constant time with the stored
 * one. Lookups are cached for a minute so thousands of polling agents cost few queries (an
 * agent polls about every 30 s); a revocation or rotation takes effect at once on every
 * replica that hears of it, and within the TTL on one that does not. Failures are counted (per
 * agent in the database, in total here) and logged without secrets.
 */
@Injectable()
export class AgentDirectory implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, CachedAgent>();
  private failures = 0;
  private subscription?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.agentCredentialsChanged, (envelope) => this.cache.delete(envelope.payload.agentId));
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  get authFailures(): number {
    return this.failures;
  }

  async authenticate(authorization: string | undefined, remote: string | undefined): Promise<AuthenticatedAgent> {
    const credentials = parseAgentAuthorization(authorization);
    if (!credentials) return this.fail(undefined, remote, 'missing or malformed Authorization header (expected "Bearer <agentId>.<secret>")');
    const agent = await this.lookup(credentials.agentId);
    if (!agent) return this.fail(undefined, remote, `unknown agent ${credentials.agentId}`);
    if (!credentialMatches(credentials.secret, agent.secretHash)) return this.fail(agent.id, remote, `wrong secret for agent ${agent.id}`);
    if (agent.status === 'revoked') return this.fail(agent.id, remote, `agent ${agent.id} is revoked`);
    return { id: agent.id, name: agent.name, deviceId: agent.deviceId, siteId: agent.siteId, scanner: agent.scanner };
  }

  /** Forgets a revoked or rotated agent here and on every other replica, so the next call reads the database. */
  credentialsChanged(agentId: string, reason: 'revoked' | 'rotated'): void {
    this.cache.delete(agentId);
    this.bus.emit(Messages.agentCredentialsChanged, { agentId, reason });
  }

  private async lookup(agentId: string): Promise<CachedAgent | undefined> {
    const cached = this.cache.get(agentId);
    if (cached && Date.now() - cached.loadedAt < CACHE_TTL_MS) return cached;
    const rows: { id: string; name: string; device_id: string; site_id: string | null; scanner: boolean; secret_hash: Buffer; status: AgentStatus }[] = await this.db.query(
      'SELECT id, name, device_id, site_id, scanner, secret_hash, status FROM agents WHERE id = $1',
      [agentId],
    );
    if (!rows.length) {
      this.cache.delete(agentId);
      return undefined;
    }
    const row = rows[0];
    const agent: CachedAgent = {
      id: row.id,
      name: row.name,
      deviceId: row.device_id,
      siteId: row.site_id,
      scanner: row.scanner,
      secretHash: Buffer.from(row.secret_hash),
      status: row.status,
      loadedAt: Date.now(),
    };
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(agentId, agent);
    return agent;
  }

  private async fail(agentId: string | undefined, remote: string | undefined, reason: string): Promise<never> {
    this.failures += 1;
    this.logger.warn({ agentId, remote, reason, authFailures: this.failures }, 'agent authentication failed');
    if (agentId) await this.db.query('UPDATE agents SET auth_failures = auth_failures + 1 WHERE id = $1', [agentId]).catch(() => undefined);
    throw new DomainError('unauthorized', reason);
  }
}
