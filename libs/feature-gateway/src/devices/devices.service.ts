import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { PORT_ITEM_TYPE } from '@portolan/diff';
import { CredentialEntity, DeviceEntity, SiteEntity } from '@portolan/persistence';
import { DATA_SOURCE, SCOPE_GUARD } from '@portolan/platform';
import { countHosts, formatTargetSpec, parseTargetSpec, resolveHostnames, ScopeGuard } from '@portolan/targets';
import { Page } from '../http/pagination';

export const CreateDeviceSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    kind: z.enum(['network', 'host']),
    address: z.string().trim().min(1, 'address must not be empty').max(4000),
    siteId: z.uuid().optional(),
    credentialId: z.uuid().optional(),
  })
  .strict();

export interface PortView {
  trackerId: string;
  host: string;
  protocol: string;
  port: number;
  state: string;
  service: string | null;
  product: string | null;
  version: string | null;
  /** Self-scans (agents) only: the local address, owning process and pid of the socket. */
  bindAddress?: string;
  process?: string | null;
  pid?: number | null;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

/**
 * When an item of a baseline was last seen: the last complete poll of its host (the comparer
 * records that once per host, not on every item), or when the item itself last changed.
 */
const LAST_SEEN = 'GREATEST(c.last_seen_at, b.observed_at)';

@Injectable()
export class DevicesService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(SCOPE_GUARD) private readonly scope: ScopeGuard,
  ) {}

  /**
   * Validates the address (syntax, host names resolve, inside the scope guard) before anything
   * is stored; a `host` device must be exactly one host.
   */
  async create(body: z.infer<typeof CreateDeviceSchema>): Promise<DeviceEntity> {
    const spec = parseTargetSpec(body.address);
    const resolved = await resolveHostnames(spec);
    this.scope.check(resolved.spec);
    const hostCount = countHosts(spec);
    if (body.kind === 'host' && hostCount !== 1) {
      throw new DomainError('invalid_target', `a host device has exactly one address; "${body.address}" selects ${hostCount} hosts (use kind "network")`, { field: 'address' });
    }
    if (body.siteId && !(await this.db.getRepository(SiteEntity).existsBy({ id: body.siteId }))) {
      throw new DomainError('invalid_payload', `siteId ${body.siteId} does not exist`, { field: 'siteId' });
    }
    if (body.credentialId && !(await this.db.getRepository(CredentialEntity).existsBy({ id: body.credentialId }))) {
      throw new DomainError('invalid_payload', `credentialId ${body.credentialId} does not exist`, { field: 'credentialId' });
    }
    return this.db.getRepository(DeviceEntity).save({
      name: body.name,
      kind: body.kind,
      address: body.address,
      normalizedAddress: formatTargetSpec(spec),
      hostCount,
      siteId: body.siteId ?? null,
      credentialId: body.credentialId ?? null,
    });
  }

  /** The current baseline of every item type (or one type): ports, configuration lines, firewall rules, registry values. */
  async items(deviceId: string, type: string | undefined, limit: number, cursor?: string): Promise<Page<ItemView>> {
    if (!(await this.db.getRepository(DeviceEntity).existsBy({ id: deviceId }))) throw new DomainError('not_found', `device ${deviceId} does not exist`);
    const after = cursor ? decodeCursor(cursor, 4) : null;
    const params: unknown[] = [deviceId, limit + 1];
    const where = ['c.device_id = $1'];
    if (type) where.push(`c.item_type = $${params.push(type)}`);
    if (after) where.push(`(c.item_type, c.host, c.item_key, c.tracker_id) > (${after.map((v) => `$${params.push(v)}`).join(', ')})`);
    const rows: { tracker_id: string; host: string; item_type: string; item_key: string; attributes: Record<string, unknown>; first_seen_at: Date; last_seen_at: Date }[] = await this.db.query(
      `SELECT c.tracker_id, c.host, c.item_type, c.item_key, c.attributes, c.first_seen_at, ${LAST_SEEN} AS last_seen_at FROM current_items c
         LEFT JOIN baselines b ON b.tracker_id = c.tracker_id AND b.host = c.host
        WHERE ${where.join(' AND ')} ORDER BY c.item_type, c.host, c.item_key, c.tracker_id LIMIT $2`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => ({ trackerId: r.tracker_id, host: r.host, type: r.item_type, key: r.item_key, attributes: r.attributes, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at })),
      nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify([last.item_type, last.host, last.item_key, last.tracker_id])).toString('base64url') : null,
    };
  }

  async ports(deviceId: string, limit: number, cursor?: string): Promise<Page<PortView>> {
    if (!(await this.db.getRepository(DeviceEntity).existsBy({ id: deviceId }))) throw new DomainError('not_found', `device ${deviceId} does not exist`);
    const after = cursor ? decodePortCursor(cursor) : null;
    const rows: { tracker_id: string; host: string; item_key: string; attributes: Record<string, unknown>; first_seen_at: Date; last_seen_at: Date }[] = await this.db.query(
      `SELECT c.tracker_id, c.host, c.item_key, c.attributes, c.first_seen_at, ${LAST_SEEN} AS last_seen_at FROM current_items c
         LEFT JOIN baselines b ON b.tracker_id = c.tracker_id AND b.host = c.host
        WHERE c.device_id = $1 AND c.item_type = $2 ${after ? 'AND (c.host, c.item_key, c.tracker_id) > ($4, $5, $6)' : ''}
        ORDER BY c.host, c.item_key, c.tracker_id LIMIT $3`,
      after ? [deviceId, PORT_ITEM_TYPE, limit + 1, after[0], after[1], after[2]] : [deviceId, PORT_ITEM_TYPE, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    const items = page.map((r) => ({
      trackerId: r.tracker_id,
      host: r.host,
      protocol: String(r.attributes['protocol']),
      port: Number(r.attributes['port']),
      state: String(r.attributes['state']),
      service: (r.attributes['service'] as string | null) ?? null,
      product: (r.attributes['product'] as string | null) ?? null,
      version: (r.attributes['version'] as string | null) ?? null,
      ...(typeof r.attributes['bindAddress'] === 'string'
        ? { bindAddress: r.attributes['bindAddress'], process: (r.attributes['process'] as string | null) ?? null, pid: (r.attributes['pid'] as number | null) ?? null }
        : {}),
      firstSeenAt: r.first_seen_at,
      lastSeenAt: r.last_seen_at,
    }));
    items.sort((a, b) => compareHosts(a.host, b.host) || a.protocol.localeCompare(b.protocol) || a.port - b.port || (a.bindAddress ?? '').localeCompare(b.bindAddress ?? ''));
    return { items, nextCursor: rows.length > limit && last ? Buffer.from(JSON.stringify([last.host, last.item_key, last.tracker_id])).toString('base64url') : null };
  }
}

export interface ItemView {
  trackerId: string;
  host: string;
  type: string;
  key: string;
  attributes: Record<string, unknown>;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

function decodePortCursor(cursor: string): [string, string, string] {
  return decodeCursor(cursor, 3) as [string, string, string];
}

/** A keyset cursor this API issued: a base64url JSON array of `length` strings. */
function decodeCursor(cursor: string, length: number): string[] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // fall through
  }
  throw new DomainError('invalid_payload', 'cursor is not one this API issued', { field: 'cursor' });
}

/** Orders IPv4 addresses numerically within a page; other names alphabetically. */
function compareHosts(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  if (pa.length === 4 && pb.length === 4 && [...pa, ...pb].every((n) => Number.isInteger(n))) {
    for (let i = 0; i < 4; i += 1) if (pa[i] !== pb[i]) return pa[i] - pb[i];
    return 0;
  }
  return a.localeCompare(b);
}
