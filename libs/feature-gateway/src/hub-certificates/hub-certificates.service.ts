import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError, MAX_HUB_PINS } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { HubCertificateEntity } from '@portolan/persistence';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { audit } from '../audit/audit.log';
import type { CertificateFacts } from '../http/tls.loader';

/** A running gateway registers its certificates again this often, so those still in use stay trusted. */
const REFRESH_MS = 60 * 60_000;
/** A certificate no gateway has registered for this long is no longer announced to agents (a replica gone for good). */
export const PIN_STALE_AFTER_MS = 7 * 86_400_000;

/** The pin set every agent's configuration carries: certificates not retired that a gateway registered lately, newest first. */
const PINS = `SELECT fingerprint FROM hub_certificates
   WHERE retired_at IS NULL AND last_seen_at > now() - make_interval(secs => $1 / 1000.0)
   ORDER BY last_seen_at DESC, fingerprint LIMIT ${MAX_HUB_PINS}`;

export interface HubCertificateView {
  id: string;
  fingerprint: string;
  subject: string;
  notAfter: Date;
  served: boolean;
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
 * self-signed hub are told every one still in use (`pins`, in their configuration), over a
 * connection they already pinned: a second gateway replica with its own certificate, or a
 * certificate staged ahead of a rotation, does not strand them. A change to that set bumps every
 * agent's configuration version, so each fetches its configuration again on its next poll.
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
   * Records the certificate this gateway serves and the one it has staged, if any, now and every
   * hour while it runs. The served one is trusted again if it had been retired (agents could not
   * reach this gateway otherwise); a staged one an operator retired stays retired.
   */
  async register(instance: string, served: CertificateFacts, staged?: CertificateFacts): Promise<void> {
    await this.registerOnce(instance, served, staged);
    this.refresh ??= setInterval(() => {
      this.registerOnce(instance, served, staged).catch((error: unknown) => this.logger.warn({ err: String(error) }, 'could not register the gateway certificates again; agents keep the pins they have'));
    }, REFRESH_MS).unref();
  }

  private async registerOnce(instance: string, served: CertificateFacts, staged?: CertificateFacts): Promise<void> {
    const certificates: [CertificateFacts, boolean][] = [[served, true]];
    if (staged) certificates.push([staged, false]);
    await this.db.transaction(async (m) => {
      let changed = false;
      for (const [facts, isServed] of certificates) changed = (await this.upsert(m, instance, facts, isServed)) || changed;
      if (changed) await bumpAgentConfigs(m);
    });
  }

  /**
   * Inserts or refreshes one certificate; true if the pin set agents are given changes. Two
   * gateways that start with the same new certificate at once: the second finds the first's row
   * once that commits, and refreshes it.
   */
  private async upsert(m: EntityManager, instance: string, facts: CertificateFacts, served: boolean): Promise<boolean> {
    const inserted: unknown[] = await m.query(
      `INSERT INTO hub_certificates (id, fingerprint, subject, not_after, served, instance, first_seen_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, now(), now())
       ON CONFLICT (fingerprint) DO NOTHING RETURNING id`,
      [randomUUID(), facts.fingerprint, facts.subject, facts.notAfter, served, instance],
    );
    if (inserted.length) {
      this.logger.info({ fingerprint: facts.fingerprint, served, notAfter: facts.notAfter }, served ? 'gateway certificate registered; pinning agents will trust it' : 'next gateway certificate staged; pinning agents will trust it');
      return true;
    }
    const [old]: { retired: boolean; stale: boolean }[] = await m.query(
      `SELECT retired_at IS NOT NULL AS retired, last_seen_at <= now() - make_interval(secs => $2 / 1000.0) AS stale FROM hub_certificates WHERE fingerprint = $1 FOR UPDATE`,
      [facts.fingerprint, PIN_STALE_AFTER_MS],
    );
    const unretire = served && old.retired;
    if (unretire) this.logger.warn({ fingerprint: facts.fingerprint }, 'this gateway serves a certificate that was retired; it is trusted again, or pinning agents could not reach this gateway');
    else if (old.retired) this.logger.warn({ fingerprint: facts.fingerprint }, 'the staged next certificate is retired; agents are not told to trust it');
    await m.query(
      `UPDATE hub_certificates SET served = served OR $2, instance = $3, last_seen_at = now(),
              retired_at = CASE WHEN $2 THEN NULL ELSE retired_at END, retired_by = CASE WHEN $2 THEN NULL ELSE retired_by END
        WHERE fingerprint = $1`,
      [facts.fingerprint, served, instance],
    );
    return unretire || (old.stale && !old.retired);
  }

  /** The fingerprints agents that pin the hub trust besides their configured pins. */
  async pins(): Promise<string[]> {
    const rows: { fingerprint: string }[] = await this.db.query(PINS, [PIN_STALE_AFTER_MS]);
    return rows.map((r) => r.fingerprint);
  }

  async list(): Promise<HubCertificateView[]> {
    const [rows, pins] = await Promise.all([this.db.getRepository(HubCertificateEntity).find({ order: { lastSeenAt: 'DESC', fingerprint: 'ASC' } }), this.pins()]);
    const announced = new Set(pins);
    return rows.map((r) => ({ ...r, announced: announced.has(r.fingerprint) }));
  }

  /**
   * Stops announcing a certificate to agents (a replica taken down for good, the old certificate
   * after a rotation, a key that leaked): agents drop it from their learned pins at their next
   * configuration fetch. Audited. A gateway that still serves it brings it back when it
   * registers, with a warning.
   */
  async retire(id: string, actor: string): Promise<HubCertificateView> {
    await this.db.transaction(async (m) => {
      const [row]: { fingerprint: string; retired: boolean }[] = await m.query('SELECT fingerprint, retired_at IS NOT NULL AS retired FROM hub_certificates WHERE id = $1 FOR UPDATE', [id]);
      if (!row) throw new DomainError('not_found', `hub certificate ${id} not found`);
      if (row.retired) throw new DomainError('conflict', `hub certificate ${row.fingerprint} is already retired`);
      await m.query('UPDATE hub_certificates SET retired_at = now(), retired_by = $2 WHERE id = $1', [id, actor]);
      await bumpAgentConfigs(m);
      await audit(m, actor, 'hub-certificate.retired', id, null, { fingerprint: row.fingerprint }, 'hub-certificate');
    });
    this.logger.info({ id, actor }, 'hub certificate retired; agents will stop trusting it');
    const view = (await this.list()).find((c) => c.id === id);
    if (!view) throw new DomainError('not_found', `hub certificate ${id} not found`);
    return view;
  }
}

/** Every agent fetches its configuration (and so the pin set) again at its next poll. */
async function bumpAgentConfigs(m: EntityManager): Promise<void> {
  await m.query(`UPDATE agents SET config_version = config_version + 1 WHERE status <> 'revoked'`);
}
