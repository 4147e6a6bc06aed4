import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { AgentCredentialsChanged, DomainError, Messages } from '@portolan/contracts';
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
  /**
   * Two processes poll with this identity (`agent-duplicated`): its results and scan reports are
   * held until one is left, but those of the process that keeps it (`keptBoot`, when the hub chose one).
   */
  readonly duplicated: boolean;
  readonly keptBoot: string | null;
}

interface CachedAgent extends AuthenticatedAgent {
  readonly secretHash: Buffer;
  readonly status: AgentStatus;
  readonly loadedAt: number;
}

/**
 * How often the cached agents are checked against the database for rotated secrets and
 * revocations. Both reach every replica at once (`agentCredentialsChanged`); this bounds how
 * long a replica that missed that message goes on trusting a revoked or rotated secret.
 */
const REVALIDATE_MS = 60_000;
/**
 * How far back each check looks: well past the period, so that a rotation or revocation is seen
 * by several checks (a lookup that read the row just before it changed is caught by the next;
 * `now()` in the changing statement is when it started, which may be a lock wait before it commits).
 */
const LOOK_BACK_MS = 5 * 60_000;
/** Without a check that succeeded this recently, nothing cached is trusted (a failing or hung check). */
const TRUST_CHECKS_MS = 2 * REVALIDATE_MS;
/** A cached agent is read again after this long whatever the checks said. */
const CACHE_MAX_AGE_MS = 60 * 60_000;
const CACHE_MAX = 50_000;

/**
 * Authenticates agent calls: the secret's SHA-256 compared in constant time with the stored
 * one. Looked-up agents are cached, so thousands of polling agents cost no queries: once a
 * minute one statement asks which agents had their secret rotated, were revoked, or were
 * flagged or cleared as duplicated since the check before (`revalidate`), and those are
 * forgotten (with a minute-long expiry each agent was read again every other poll: ~60 us of the
 * gateway's ~250 us per poll). A revocation or
 * rotation takes effect at once on every replica that hears of it, and within a minute on one
 * that does not; a check that fails forgets every agent, and without one that succeeded in the
 * last two minutes nothing cached is trusted. Failures are counted (per agent in the
 * database, in total here) and logged without secrets.
 */
@Injectable()
export class AgentDirectory implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, CachedAgent>();
  private failures = 0;
  private subscription?: ConsumerHandle;
  /** The database's time at the last check that succeeded (undefined before the first). */
  private checkedAt?: Date;
  /** This process's time of that check. */
  private checkedLocallyAt = 0;
  private checking = false;
  private revalidateTimer?: NodeJS.Timeout;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.agentCredentialsChanged, (envelope) => this.cache.delete(envelope.payload.agentId));
    await this.revalidate();
    this.revalidateTimer = setInterval(() => void this.revalidate(), REVALIDATE_MS).unref();
  }

  /**
   * Forgets the cached agents whose secret was rotated or who were revoked lately (`LOOK_BACK_MS`
   * before the check before); the first check forgets everything cached until then.
   */
  async revalidate(): Promise<void> {
    if (this.checking) return; // one at a time: a hung one stops the cache being trusted (TRUST_CHECKS_MS)
    this.checking = true;
    try {
      const since = this.checkedAt && new Date(this.checkedAt.getTime() - LOOK_BACK_MS);
      const [row]: { at: Date; changed: string[] }[] = await this.db.query(
        `SELECT now() AS at, (SELECT coalesce(json_agg(id), '[]') FROM agents WHERE secret_rotated_at >= $1 OR revoked_at >= $1 OR duplicate_changed_at >= $1) AS changed`,
        [since ?? null],
      );
      if (!this.checkedAt) this.cache.clear();
      else for (const id of row.changed) this.cache.delete(id);
      this.checkedAt = new Date(row.at);
      this.checkedLocallyAt = Date.now();
    } catch (error) {
      this.cache.clear();
      this.logger.warn({ err: String(error) }, 'could not check cached agents for rotated secrets and revocations; forgot them all');
    } finally {
      this.checking = false;
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
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
    return { id: agent.id, name: agent.name, deviceId: agent.deviceId, siteId: agent.siteId, scanner: agent.scanner, duplicated: agent.duplicated, keptBoot: agent.keptBoot };
  }

  /** Forgets a revoked, rotated or (no longer) duplicated agent here and on every other replica, so the next call reads the database. */
  credentialsChanged(agentId: string, reason: AgentCredentialsChanged['reason']): void {
    this.cache.delete(agentId);
    this.bus.emit(Messages.agentCredentialsChanged, { agentId, reason });
  }

  private async lookup(agentId: string): Promise<CachedAgent | undefined> {
    const cached = this.cache.get(agentId);
    const now = Date.now();
    if (cached && now - cached.loadedAt < CACHE_MAX_AGE_MS && now - this.checkedLocallyAt < TRUST_CHECKS_MS) return cached;
    const rows: { id: string; name: string; device_id: string; site_id: string | null; scanner: boolean; secret_hash: Buffer; status: AgentStatus; duplicated: boolean; kept_boot: string | null }[] = await this.db.query(
      'SELECT id, name, device_id, site_id, scanner, secret_hash, status, duplicated_at IS NOT NULL AS duplicated, duplicate_kept_boot AS kept_boot FROM agents WHERE id = $1',
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
      duplicated: row.duplicated,
      keptBoot: row.duplicated ? row.kept_boot : null,
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
