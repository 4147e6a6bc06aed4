import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError, MAX_HUB_PINS } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { HubCertificateEntity, SqlState, sqlStateOf } from '@portolan/persistence';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { audit, AuditCaller } from '../audit/audit.log';
import type { CertificateFacts } from '../http/tls.loader';

/** A running gateway registers its certificates again this often, so those still in use stay trusted. */
const REFRESH_MS = 60 * 60_000;
/** A certificate no gateway has registered for this long is no longer announced to agents (a replica gone for good). */
export const PIN_STALE_AFTER_MS = 7 * 86_400_000;
/** A served certificate registered within this time may still be served: retiring it needs `force`. */
const IN_USE_MS = 2 * REFRESH_MS;

export interface HubCertificateView {
  id: string;
  fingerprint: string;
  subject: string;
  notAfter: Date;
  /** A gateway has served it (else it was only staged). */
  served: boolean;
  /** Served, and registered by a gateway within the last two hours: a gateway may well serve it now. */
  inUse: boolean;
  instance: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
  retiredAt: Date | null;
  retiredBy: string | null;
  /** In the pin set agents are given now. */
  announced: boolean;
}

/**
 * The certificates the hub's gateways serve or have staged to serve next. Agents that pin a
 * self-signed hub are told every one in use (`pins`, in their configuration), over a connection
 * they already pinned: a second gateway replica with its own certificate, or a certificate
 * staged ahead of a rotation, does not strand them. The set told (`announced`) changes only
 * together with every agent's configuration version (`reconcile`), so each agent fetches it
 * again on its next poll whenever it changes: a certificate registered, retired, or gone stale.
 */
@Injectable()
export class HubCertificatesService implements OnModuleDestroy {
  private refresh?: NodeJS.Timeout;

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleDestroy(): void {
    if (this.refresh) clearInterval(this.refresh);
  }

  /**
   * Records the certificate this gateway serves and the one it has staged, if any, now (before
   * the gateway takes connections, so it is announced before any agent can reach it) and every
   * hour while it runs. The served one is trusted again if it had been retired (agents could
   * not reach this gateway otherwise); a staged one an operator retired stays retired.
   */
  async register(instance: string, served: CertificateFacts, staged?: CertificateFacts): Promise<void> {
    await this.registerOnce(instance, served, staged);
    this.refresh ??= setInterval(() => {
      this.registerOnce(instance, served, staged).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not register the gateway certificates again; agents keep the pins they have'));
    }, REFRESH_MS).unref();
  }

  /** One registration; again (up to three times) if it deadlocked with another writer of the agents' rows (heartbeats). */
  private async registerOnce(instance: string, served: CertificateFacts, staged?: CertificateFacts): Promise<void> {
    const certificates: [CertificateFacts, boolean][] = [[served, true]];
    if (staged) certificates.push([staged, false]);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (m) => {
          for (const [facts, isServed] of certificates) await this.upsert(m, instance, facts, isServed);
          await reconcile(m);
        });
      } catch (error) {
        if (sqlStateOf(error) !== SqlState.deadlockDetected || attempt >= 3) throw error;
        this.logger.warn({ attempt }, 'registering the gateway certificates deadlocked; trying again');
      }
    }
  }

  /**
   * Inserts or refreshes one certificate. Two gateways that start with the same new certificate
   * at once: the second finds the first's row once that commits, and refreshes it.
   */
  private async upsert(m: EntityManager, instance: string, facts: CertificateFacts, served: boolean): Promise<void> {
    const inserted: unknown[] = await m.query(
      `INSERT INTO hub_certificates (id, fingerprint, subject, not_after, served, instance, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, now(), now())
       ON CONFLICT (fingerprint) DO NOTHING RETURNING id`,
      [randomUUID(), facts.fingerprint, facts.subject, facts.notAfter, served, instance],
    );
    if (inserted.length) {
      this.logger.info({ fingerprint: facts.fingerprint, served, notAfter: facts.notAfter }, served ? 'gateway certificate registered; pinning agents will trust it' : 'next gateway certificate staged; pinning agents will trust it');
      return;
    }
    const [old]: { retired: boolean }[] = await m.query(`SELECT retired_at IS NOT NULL AS retired FROM hub_certificates WHERE fingerprint = $1 FOR UPDATE`, [facts.fingerprint]);
    if (old.retired && served) this.logger.warn({ fingerprint: facts.fingerprint }, 'this gateway serves a certificate that was retired; it is trusted again, or pinning agents could not reach this gateway');
    else if (old.retired) this.logger.warn({ fingerprint: facts.fingerprint }, 'the staged next certificate is retired; agents are not told to trust it');
    await m.query(
      `UPDATE hub_certificates SET served = served OR $2, instance = $3, last_seen_at = now(),
              retired_at = CASE WHEN $2 THEN NULL ELSE retired_at END, retired_by = CASE WHEN $2 THEN NULL ELSE retired_by END
        WHERE fingerprint = $1`,
      [facts.fingerprint, served, instance],
    );
  }

  /** The fingerprints agents that pin the hub trust besides their configured pins. */
  async pins(): Promise<string[]> {
    const rows: { fingerprint: string }[] = await this.db.query(`SELECT fingerprint FROM hub_certificates WHERE announced ORDER BY fingerprint`);
    return rows.map((r) => r.fingerprint);
  }

  async list(): Promise<HubCertificateView[]> {
    const rows = await this.db.getRepository(HubCertificateEntity).find({ order: { lastSeenAt: 'DESC', fingerprint: 'ASC' } });
    return rows.map(viewOf);
  }

  /**
   * Stops announcing a certificate to agents (a replica taken down for good, the old certificate
   * after a rotation, a key that leaked): agents drop it at their next poll, and close their
   * connections to it. Audited. One that a gateway registered as served within two hours may
   * still be served: that needs `force`, and a gateway that does serve it brings it back when it
   * registers (hourly), with a warning.
   */
  async retire(id: string, actor: string, force = false, caller?: AuditCaller): Promise<HubCertificateView> {
    await this.db.transaction(async (m) => {
      const [row]: { fingerprint: string; retired: boolean; in_use: boolean; instance: string }[] = await m.query(
        `SELECT fingerprint, retired_at IS NOT NULL AS retired, served AND last_seen_at > now() - make_interval(secs => $2 / 1000.0) AS in_use, instance
           FROM hub_certificates WHERE id = $1 FOR UPDATE`,
        [id, IN_USE_MS],
      );
      if (!row) throw new DomainError('not_found', `hub certificate ${id} not found`);
      if (row.retired) throw new DomainError('conflict', `hub certificate ${row.fingerprint} is already retired`);
      if (row.in_use && !force)
        throw new DomainError(
          'conflict',
          `hub certificate ${row.fingerprint} was served by gateway ${row.instance} within the last 2 hours; once no gateway serves it, retire it with {"force": true} (a gateway still serving it would bring it back)`,
        );
      await m.query('UPDATE hub_certificates SET retired_at = now(), retired_by = $2 WHERE id = $1', [id, actor]);
      await reconcile(m);
      await audit(m, caller, actor, 'hub-certificate.retired', id, null, { fingerprint: row.fingerprint, force }, 'hub-certificate');
    });
    this.logger.info({ id, actor }, 'hub certificate retired; agents will stop trusting it');
    return viewOf(await this.db.getRepository(HubCertificateEntity).findOneByOrFail({ id }));
  }
}

function viewOf(row: HubCertificateEntity): HubCertificateView {
  return { ...row, inUse: row.served && Date.now() - row.lastSeenAt.getTime() < IN_USE_MS };
}

/**
 * Makes the announced set what it should be now (not retired, registered within the last 7
 * days, the newest `MAX_HUB_PINS`) and, if that changed anything, has every agent fetch its
 * configuration again at its next poll (agent rows locked in id order; a deadlock with the
 * heartbeats' batched write is retried by `registerOnce`).
 */
async function reconcile(m: EntityManager): Promise<void> {
  // A SELECT around the UPDATE: the driver answers an UPDATE with [rows, count], a SELECT with its rows.
  const [{ changed }]: { changed: number }[] = await m.query(
    `WITH want AS (
       SELECT id FROM hub_certificates
        WHERE retired_at IS NULL AND last_seen_at > now() - make_interval(secs => $1 / 1000.0)
        ORDER BY last_seen_at DESC, fingerprint LIMIT ${MAX_HUB_PINS}
     ), updated AS (
       UPDATE hub_certificates c SET announced = c.id IN (SELECT id FROM want)
        WHERE c.announced IS DISTINCT FROM (c.id IN (SELECT id FROM want))
        RETURNING c.id
     )
     SELECT count(*)::int AS changed FROM updated`,
    [PIN_STALE_AFTER_MS],
  );
  if (!changed) return;
  await m.query(
    `UPDATE agents a SET config_version = a.config_version + 1
       FROM (SELECT id FROM agents WHERE status <> 'revoked' ORDER BY id FOR UPDATE) locked
      WHERE a.id = locked.id`,
  );
}
