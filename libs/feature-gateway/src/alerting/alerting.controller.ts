import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { Alert, AlertRuleError, CHANNEL_TYPES, ChannelError, checkChannel, compileAlertRule, deliver, SEVERITIES } from '@portolan/alerts';
import { DomainError } from '@portolan/contracts';
import { AlertChannelStore, DATA_SOURCE, PORTOLAN_VERSION } from '@portolan/platform';
import { requireExisting } from '../http/references';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';

export const CreateChannelSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    type: z.enum(CHANNEL_TYPES),
    /** webhook: {url, headers?}; pagerduty: {url, resolveWhenPlanned? (default true)}; splunk-hec: {url, index?, sourcetype?}; syslog: {host, port, transport: udp|tcp|tls, format: cef|json, ca?}; slack/teams: {}. */
    settings: z.record(z.string(), z.unknown()).default({}),
    /** Write-only: webhook {signingSecret}; slack/teams {url}; pagerduty {routingKey}; splunk-hec {token}. */
    secrets: z
      .object({ signingSecret: z.string().min(16).max(512).optional(), url: z.string().max(2_000).optional(), routingKey: z.string().min(1).max(200).optional(), token: z.string().min(1).max(200).optional(), username: z.string().min(1).max(200).optional(), password: z.string().min(1).max(500).optional() })
      .strict()
      .default({}),
  })
  .strict();
const Uuids = z.array(z.uuid()).max(10_000).default([]);
export const CreateRuleSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    enabled: z.boolean().default(true),
    scope: z.object({ deviceIds: Uuids, groupIds: Uuids, siteIds: Uuids, trackerIds: Uuids }).strict().default({ deviceIds: [], groupIds: [], siteIds: [], trackerIds: [] }),
    filter: z
      .object({
        kinds: z.array(z.enum(['added', 'removed', 'modified', 'baseline', 'communications', 'flapping-started', 'flapping-stopped'])).default([]),
        itemTypes: z.array(z.string().min(1).max(50)).default([]),
        planned: z.enum(['unplanned', 'planned', 'both']).default('unplanned'),
        keyPattern: z.string().max(500).nullable().default(null),
      })
      .strict()
      .default({ kinds: [], itemTypes: [], planned: 'unplanned', keyPattern: null }),
    severity: z.enum(SEVERITIES).default('medium'),
    channelIds: z.array(z.uuid()).min(1).max(20),
    /** Storm control: at most `maxAlerts` events alerted per window of `windowSeconds`; the rest in one summary per window (0: a digest, every event in the summary). */
    storm: z.object({ maxAlerts: z.number().int().min(0).max(100_000), windowSeconds: z.number().int().min(1).max(86_400) }).strict().nullable().default(null),
  })
  .strict();
const DeliveriesQuerySchema = z.object({ status: z.enum(['pending', 'delivered', 'dead']).optional(), channelId: z.uuid().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });

interface ChannelView {
  id: string;
  name: string;
  type: string;
  settings: Record<string, unknown>;
  /** Which secrets are stored (never what). */
  secrets: string[];
  status: string;
  statusReason: string | null;
  createdAt: Date;
}

/** Alert channels (secrets write-only, sealed), alert rules, and the deliveries with their outcomes. */
@Controller()
export class AlertingController {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    private readonly channels: AlertChannelStore,
  ) {}

  @Post('alert-channels')
  async createChannel(@Body(new ZodValidationPipe(CreateChannelSchema)) body: z.infer<typeof CreateChannelSchema>): Promise<ChannelView> {
    let settings;
    try {
      settings = checkChannel(body.type, body.settings, body.secrets);
    } catch (error) {
      if (error instanceof ChannelError) throw new DomainError('invalid_payload', `invalid ${body.type} channel: ${error.message}`, { field: 'settings' });
      throw error;
    }
    const exists: unknown[] = await this.db.query('SELECT 1 FROM alert_channels WHERE name = $1', [body.name]);
    if (exists.length) throw new DomainError('conflict', `an alert channel named "${body.name}" already exists`, { field: 'name' });
    const id = randomUUID();
    const sealed = this.channels.seal(id, body.secrets);
    await this.db.query(
      `INSERT INTO alert_channels (id, name, type, settings, secret_ciphertext, secret_fields, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'healthy', now())`,
      [id, body.name, body.type, JSON.stringify(settings), sealed.ciphertext, JSON.stringify(sealed.fields)],
    );
    return this.channel(id);
  }

  @Get('alert-channels')
  async listChannels(): Promise<{ items: ChannelView[] }> {
    const rows: ChannelRow[] = await this.db.query(`SELECT ${CHANNEL_COLUMNS} FROM alert_channels ORDER BY created_at DESC, id DESC LIMIT 1000`);
    return { items: rows.map(channelView) };
  }

  @Get('alert-channels/:id')
  getChannel(@Param('id', UUID_PARAM) id: string): Promise<ChannelView> {
    return this.channel(id);
  }

  /** Sends a test alert through the channel now and says how it went. */
  @Post('alert-channels/:id/test')
  @HttpCode(200)
  async test(@Param('id', UUID_PARAM) id: string): Promise<{ delivered: boolean; ms: number; error?: string }> {
    const channel = await this.channels.load(this.db.manager, id);
    const now = new Date().toISOString();
    const alert: Alert = {
      id: `test:${randomUUID()}`,
      rule: { id: '00000000-0000-0000-0000-000000000000', name: 'test alert' },
      severity: 'info',
      event: { id: '00000000-0000-0000-0000-000000000000', kind: 'added', occurredAt: now, device: { id: '00000000-0000-0000-0000-000000000000', name: 'test device' }, host: '127.0.0.1', itemType: 'port', itemKey: 'tcp/1', protocol: 'tcp', port: 1, before: null, after: { protocol: 'tcp', port: 1, state: 'open' }, planned: false, plannedChangeId: null },
      link: 'about:blank',
    };
    const started = Date.now();
    try {
      await deliver(channel.settings, channel.secrets, alert, { hostname: hostname(), version: PORTOLAN_VERSION });
      return { delivered: true, ms: Date.now() - started };
    } catch (error) {
      return { delivered: false, ms: Date.now() - started, error: error instanceof Error ? error.message : String(error) };
    }
  }

  @Post('alert-rules')
  async createRule(@Body(new ZodValidationPipe(CreateRuleSchema)) body: z.infer<typeof CreateRuleSchema>): Promise<Record<string, unknown>> {
    const id = randomUUID();
    try {
      compileAlertRule({ id, enabled: body.enabled, scope: body.scope, filter: body.filter, severity: body.severity, channelIds: body.channelIds, storm: body.storm });
    } catch (error) {
      if (error instanceof AlertRuleError) throw new DomainError('invalid_payload', error.message, { field: error.field });
      throw error;
    }
    for (const [table, ids, field] of [
      ['devices', body.scope.deviceIds, 'scope.deviceIds'],
      ['device_groups', body.scope.groupIds, 'scope.groupIds'],
      ['sites', body.scope.siteIds, 'scope.siteIds'],
      ['trackers', body.scope.trackerIds, 'scope.trackerIds'],
      ['alert_channels', body.channelIds, 'channelIds'],
    ] as const) {
      await requireExisting(this.db, table, ids, field);
    }
    await this.db.query(
      `INSERT INTO alert_rules (id, name, enabled, scope, filter, severity, channel_ids, storm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())`,
      [id, body.name, body.enabled, JSON.stringify(body.scope), JSON.stringify(body.filter), body.severity, body.channelIds, body.storm ? JSON.stringify(body.storm) : null],
    );
    return { id, ...body };
  }

  @Get('alert-rules')
  async listRules(): Promise<{ items: Record<string, unknown>[] }> {
    const rows: Record<string, unknown>[] = await this.db.query(
      'SELECT id, name, enabled, scope, filter, severity, channel_ids AS "channelIds", storm, created_at AS "createdAt" FROM alert_rules ORDER BY created_at DESC LIMIT 1000',
    );
    return { items: rows };
  }

  @Get('alert-deliveries')
  async deliveries(@Query(new ZodValidationPipe(DeliveriesQuerySchema, 'query')) query: z.infer<typeof DeliveriesQuerySchema>): Promise<{ items: Record<string, unknown>[] }> {
    const rows: Record<string, unknown>[] = await this.db.query(
      `SELECT id, dedupe_key AS "dedupeKey", event_id AS "eventId", rule_id AS "ruleId", channel_id AS "channelId", status, attempts, last_error AS "lastError",
              next_attempt_at AS "nextAttemptAt", created_at AS "createdAt", delivered_at AS "deliveredAt", latency_ms AS "latencyMs"
         FROM alert_deliveries WHERE ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR channel_id = $2)
        ORDER BY created_at DESC, id DESC LIMIT $3`,
      [query.status ?? null, query.channelId ?? null, query.limit],
    );
    return { items: rows };
  }

  /** Sends a dead delivery again (its attempts start over). */
  @Post('alert-deliveries/:id/retry')
  @HttpCode(200)
  async retry(@Param('id', UUID_PARAM) id: string): Promise<{ retried: number }> {
    const rows: unknown[] = await this.db.query(
      `WITH u AS (UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE id = $1 AND status = 'dead' RETURNING id) SELECT * FROM u`,
      [id],
    );
    if (!rows.length) throw new DomainError('conflict', `alert delivery ${id} is not dead (or does not exist)`);
    return { retried: rows.length };
  }

  private async channel(id: string): Promise<ChannelView> {
    const [row]: ChannelRow[] = await this.db.query(`SELECT ${CHANNEL_COLUMNS} FROM alert_channels WHERE id = $1`, [id]);
    if (!row) throw new DomainError('not_found', `alert channel ${id} does not exist`);
    return channelView(row);
  }
}

const CHANNEL_COLUMNS = 'id, name, type, settings, secret_fields, status, status_reason, created_at';
interface ChannelRow {
  id: string;
  name: string;
  type: string;
  settings: Record<string, unknown>;
  secret_fields: string[];
  status: string;
  status_reason: string | null;
  created_at: Date;
}

function channelView(row: ChannelRow): ChannelView {
  return { id: row.id, name: row.name, type: row.type, settings: row.settings, secrets: row.secret_fields, status: row.status, statusReason: row.status_reason, createdAt: row.created_at };
}
