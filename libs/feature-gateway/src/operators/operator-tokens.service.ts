import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { z } from 'zod';
import { Bus, ConsumerHandle } from '@portolan/bus';
import { DomainError, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { OperatorRole, OperatorTokenEntity } from '@portolan/persistence';
import { BUS, DATA_SOURCE, LOGGER } from '@portolan/platform';
import { GatewayConfig } from '@portolan/config';
import { GATEWAY_CONFIG } from '../agent-api/agent-api.tokens';
import { hashCredential } from '../agent-api/agent-credentials';
import { RateLimiter } from '../agent-api/rate.limiter';
import { audit } from '../audit/audit.log';
import { newOperatorToken, operatorTokenHint, readBearer, roleMayCall } from './operator-credentials';

/** Who called: the operator token of the request. */
export interface OperatorIdentity {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
}

export const CreateOperatorTokenSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    /** Least privilege unless asked: a viewer only reads. */
    role: z.enum(['admin', 'viewer']).default('viewer'),
    /** Days until the token stops working; no expiry when absent. */
    expiresInDays: z.number().positive().max(3650).optional(),
  })
  .strict();
export type CreateOperatorToken = z.infer<typeof CreateOperatorTokenSchema>;

/** A token as listed: never the token itself, which is answered once, when it is made. */
export type OperatorTokenView = Omit<OperatorTokenEntity, 'tokenHash'>;

/** The file the hub's first admin token is written to when none was configured, in its data directory. */
export const ADMIN_TOKEN_FILE = 'admin.token';

/** A token found valid is trusted this long without the database: a revocation whose message a replica missed takes at most this. */
const CACHE_MAX_AGE_MS = 5_000;
const CACHE_MAX = 1_000;
/** `last_used_at` is written at most this often a token. */
const TOUCH_EVERY_MS = 60_000;


interface CachedToken {
  readonly identity: OperatorIdentity;
  readonly expiresAt: number | null;
  readonly loadedAt: number;
}

type TokenRow = { id: string; name: string; role: OperatorRole; expires_at: Date | null; revoked_at: Date | null };

/**
 * Operator tokens: made (shown once), listed, revoked, and checked on every operator API call.
 * Tokens are 256 random bits (or an administrator's own of at least 32 characters), kept as their
 * SHA-256 and looked up by it: an equality on a hash of the guess tells a caller nothing about
 * a stored token, so no constant-time comparison is needed past the index.
 */
@Injectable()
export class OperatorTokensService implements OnModuleInit, OnModuleDestroy {
  private readonly cache = new Map<string, CachedToken>();
  private readonly touchedAt = new Map<string, number>();
  /**
   * Failed authentications by address (`GATEWAY_OPERATOR_AUTH_FAILURE_BURST`, then
   * `…_FAILURES_PER_SECOND`). Past them, calls with a token not already known good are 429s that
   * cost neither a database read nor a log line (a flood on the agents' port).
   */
  private readonly failuresByAddress: RateLimiter;
  /** Revocations made here: a lookup that began before one does not cache what it read. */
  private revocations = 0;
  private failures = 0;
  private subscription?: ConsumerHandle;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.failuresByAddress = new RateLimiter(config.operatorAuthFailuresPerSecond, config.operatorAuthFailureBurst);
  }

  /** Revocations made on other replicas reach this one at once. */
  async onModuleInit(): Promise<void> {
    this.subscription = await this.bus.subscribe(Messages.operatorTokenRevoked, (envelope) => this.forget(envelope.payload.tokenId));
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscription?.stop();
  }

  /**
   * The token of an operator call, or a 401 (none, malformed, unknown, revoked or expired) or a
   * 429 (an address that keeps failing, unless its token is one already known good).
   */
  async authenticate(authorization: string | undefined, path: string, remote: string | undefined): Promise<OperatorIdentity> {
    const bearer = readBearer(authorization);
    const hash = bearer.kind === 'token' ? hashCredential(bearer.token) : undefined;
    const known = hash && this.cached(hash);
    if (!known) this.refuseKeptFailing(remote);
    if (bearer.kind === 'missing') return this.fail(remote, path, 'the operator API needs an operator token: send "Authorization: Bearer <token>"');
    if (bearer.kind === 'malformed') return this.fail(remote, path, 'malformed Authorization header (expected "Bearer <operator token>")');
    if (!hash) return this.fail(remote, path, "an agent's credentials are not accepted on the operator API; use an operator token");
    const found = known || (await this.load(hash));
    if (!found) return this.fail(remote, path, 'unknown operator token');
    if ('revokedAt' in found) return this.fail(remote, path, `operator token "${found.name}" (${found.id}) was revoked at ${found.revokedAt.toISOString()}`, found.id);
    const { identity, expiresAt } = found;
    if (expiresAt !== null && expiresAt <= Date.now()) return this.fail(remote, path, `operator token "${identity.name}" (${identity.id}) expired at ${new Date(expiresAt).toISOString()}`, identity.id);
    this.touch(identity.id);
    return identity;
  }

  /** What the token's role allows, or a 403: a viewer only reads, and never an `admin` route. */
  authorize(identity: OperatorIdentity, access: 'operator' | 'admin', method: string, path: string): void {
    if (identity.role === 'admin') return;
    const reason = access === 'admin' ? `${method} ${path} needs an admin token` : roleMayCall(identity.role, method) ? undefined : `it may read (GET) but not ${method} ${path}`;
    if (!reason) return;
    this.logger.warn({ tokenId: identity.id, name: identity.name, method, path }, 'operator call refused: viewer token');
    throw new DomainError('forbidden', `operator token "${identity.name}" is a viewer: ${reason}`, { tokenId: identity.id, role: identity.role });
  }

  async create(body: CreateOperatorToken, actor: OperatorIdentity): Promise<OperatorTokenView & { token: string }> {
    const token = newOperatorToken();
    const now = new Date();
    const row = this.row(token, body.name, body.role, actor.name, now, body.expiresInDays === undefined ? null : new Date(now.getTime() + body.expiresInDays * 86_400_000));
    await this.db.transaction(async (m) => {
      await m.getRepository(OperatorTokenEntity).insert(row);
      await audit(m, actor, actor.name, 'operator-token.created', row.id, null, { name: row.name, role: row.role, expiresAt: row.expiresAt, by: actor.id }, 'operator-token');
    });
    this.logger.info({ tokenId: row.id, name: row.name, role: row.role, hint: row.tokenHint, by: actor.id }, 'operator token created');
    return { ...view(row), token };
  }

  /**
   * Revokes a token at once on every gateway (a message to the others; a replica that misses it
   * stops trusting its cache within `CACHE_MAX_AGE_MS`). The last
   * admin token that works is not revoked: nobody could then make another.
   */
  async revoke(id: string, actor: OperatorIdentity): Promise<OperatorTokenView> {
    const revoked = await this.db.transaction(async (m) => {
      await m.query('LOCK TABLE operator_tokens IN SHARE ROW EXCLUSIVE MODE');
      const row = await m.getRepository(OperatorTokenEntity).findOneBy({ id });
      if (!row) throw new DomainError('not_found', `operator token ${id} does not exist`);
      if (row.revokedAt) return row;
      if (row.role === 'admin' && isActive(row) && (await activeAdmins(m, id)) === 0) {
        throw new DomainError('conflict', `operator token "${row.name}" (${id}) is the last admin token that works; make another admin token before revoking it`, { tokenId: id });
      }
      row.revokedAt = new Date();
      row.revokedBy = actor.name;
      await m.getRepository(OperatorTokenEntity).update(id, { revokedAt: row.revokedAt, revokedBy: row.revokedBy });
      await audit(m, actor, actor.name, 'operator-token.revoked', id, null, { name: row.name, role: row.role, by: actor.id }, 'operator-token');
      return row;
    });
    this.forget(id);
    this.bus.emit(Messages.operatorTokenRevoked, { tokenId: id });
    this.logger.info({ tokenId: id, name: revoked.name, by: actor.id }, 'operator token revoked');
    return revoked;
  }

  /**
   * On start: the configured admin token is registered (by its hash) unless it is already there;
   * with none configured and no admin token that works, one is made and written to
   * `<dataDir>/admin.token` (0600): the only place it is shown. A configured token that was
   * revoked stays revoked, and when no other admin token works either, a new one is written to
   * that file: whoever can restart the hub and read its data directory is never locked out.
   * Gateways starting together take turns on a table lock.
   */
  async bootstrap(configured: string | undefined, dataDir: string): Promise<void> {
    await this.db.transaction(async (m) => {
      await m.query('LOCK TABLE operator_tokens IN SHARE ROW EXCLUSIVE MODE');
      if (configured !== undefined) {
        const rows: { id: string; revoked_at: Date | null }[] = await m.query('SELECT id, revoked_at FROM operator_tokens WHERE token_hash = $1', [hashCredential(configured)]);
        if (!rows.length) {
          const row = this.row(configured, 'admin (PORTOLAN_ADMIN_TOKEN)', 'admin', 'bootstrap', new Date(), null);
          row.tokenHint = '(env)';
          await m.getRepository(OperatorTokenEntity).insert(row);
          await audit(m, undefined, 'bootstrap', 'operator-token.created', row.id, null, { name: row.name, role: row.role, source: 'PORTOLAN_ADMIN_TOKEN' }, 'operator-token');
          this.logger.info({ tokenId: row.id }, 'admin token of PORTOLAN_ADMIN_TOKEN registered');
          return;
        }
        if (!rows[0].revoked_at) return;
        this.logger.warn({ tokenId: rows[0].id }, 'PORTOLAN_ADMIN_TOKEN was revoked and is not accepted; set a new one or use another admin token');
      }
      if ((await activeAdmins(m)) > 0) return;
      const token = newOperatorToken();
      const row = this.row(token, configured === undefined ? 'admin (first start)' : 'admin (recovery)', 'admin', 'bootstrap', new Date(), null);
      await m.getRepository(OperatorTokenEntity).insert(row);
      await audit(m, undefined, 'bootstrap', 'operator-token.created', row.id, null, { name: row.name, role: row.role, source: ADMIN_TOKEN_FILE }, 'operator-token');
      // Written before the commit: a token nobody can read is never the only admin token.
      const file = resolve(join(dataDir, ADMIN_TOKEN_FILE));
      writePrivateFile(file, `${token}\n`);
      this.logger.warn({ tokenId: row.id, file }, 'no admin token of the operator API existed: one was made and written to this file only; keep it in a vault and delete the file');
    });
  }

  private row(token: string, name: string, role: OperatorRole, createdBy: string, now: Date, expiresAt: Date | null): OperatorTokenEntity {
    return Object.assign(new OperatorTokenEntity(), {
      id: randomUUID(),
      name,
      role,
      tokenHash: hashCredential(token),
      tokenHint: operatorTokenHint(token),
      createdAt: now,
      createdBy,
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
      revokedBy: null,
    });
  }

  /** Drops a token from the cache, and keeps lookups already under way from caching it again. */
  private forget(tokenId: string): void {
    this.revocations += 1;
    for (const [key, cached] of this.cache) if (cached.identity.id === tokenId) this.cache.delete(key);
  }

  /** The token of this hash as cached, while it may be trusted without the database. */
  private cached(hash: Buffer): CachedToken | undefined {
    const cached = this.cache.get(hash.toString('hex'));
    return cached && Date.now() - cached.loadedAt < CACHE_MAX_AGE_MS ? cached : undefined;
  }

  /** The token of this hash from the database (cached when valid), what is known of it when revoked, or undefined. */
  private async load(hash: Buffer): Promise<CachedToken | { id: string; name: string; revokedAt: Date } | undefined> {
    const key = hash.toString('hex');
    const revocations = this.revocations;
    const rows: TokenRow[] = await this.db.query('SELECT id, name, role, expires_at, revoked_at FROM operator_tokens WHERE token_hash = $1', [hash]);
    if (!rows.length || rows[0].revoked_at) {
      this.cache.delete(key);
      return rows.length ? { id: rows[0].id, name: rows[0].name, revokedAt: new Date(rows[0].revoked_at as Date) } : undefined;
    }
    const row = rows[0];
    const entry: CachedToken = { identity: { id: row.id, name: row.name, role: row.role }, expiresAt: row.expires_at ? new Date(row.expires_at).getTime() : null, loadedAt: Date.now() };
    // A revocation made while this read was under way: not cached, the next call reads again.
    if (revocations !== this.revocations) return entry;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, entry);
    return entry;
  }

  /** A 429 that costs no database read or log line, for an address past its failures. */
  private refuseKeptFailing(remote: string | undefined): void {
    const address = remote ?? 'unknown';
    const waitMs = this.failuresByAddress.wait(address);
    if (waitMs > 0) throw new DomainError('rate_limited', `too many failed operator authentications from ${address}; retry in ${waitMs} ms`, { retryAfterMs: waitMs });
  }

  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touchedAt.get(id) ?? 0) < TOUCH_EVERY_MS) return;
    if (this.touchedAt.size >= CACHE_MAX) this.touchedAt.clear();
    this.touchedAt.set(id, now);
    this.db.query('UPDATE operator_tokens SET last_used_at = now() WHERE id = $1', [id]).catch((error: unknown) => this.logger.warn({ tokenId: id, err: String(error) }, 'could not note when an operator token was last used'));
  }

  private fail(remote: string | undefined, path: string, reason: string, tokenId?: string): never {
    this.failures += 1;
    this.failuresByAddress.take(remote ?? 'unknown');
    this.logger.warn({ tokenId, remote, path, reason, authFailures: this.failures }, 'operator authentication failed');
    throw new DomainError('unauthorized', reason, tokenId ? { tokenId } : {});
  }
}

function isActive(row: Pick<OperatorTokenEntity, 'revokedAt' | 'expiresAt'>): boolean {
  return !row.revokedAt && (!row.expiresAt || row.expiresAt.getTime() > Date.now());
}

async function activeAdmins(m: EntityManager, except?: string): Promise<number> {
  const rows: { n: number }[] = await m.query(
    `SELECT count(*)::int AS n FROM operator_tokens WHERE role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) AND ($1::uuid IS NULL OR id <> $1::uuid)`,
    [except ?? null],
  );
  return rows[0].n;
}

function view(row: OperatorTokenEntity): OperatorTokenView {
  const { tokenHash: _hash, ...rest } = row;
  return rest;
}

/** Written whole or not at all (a new temporary file, renamed), readable by its owner only. */
function writePrivateFile(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600, flag: 'wx' });
  renameSync(temporary, file);
}
