import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { Alert, AlertRuleError, CHANNEL_TYPES, ChannelError, checkChannel, compileAlertRule, deliver, SEVERITIES, Severity, SeverityMapping } from '@portolan/alerts';
import { DomainError } from '@portolan/contracts';
import { AlertChannelStore, DATA_SOURCE, PORTOLAN_VERSION } from '@portolan/platform';
import { audit } from '../audit/audit.log';
import { ActorSchema, DeletedByQuery, DeletedByQuerySchema } from '../http/actor';
import { requireExisting } from '../http/references';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { CurrentOperator } from '../operators/operator-auth.guard';
import type { OperatorIdentity } from '../operators/operator-tokens.service';

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
const Uuids = z.array(z.uuid()).max(10_000);
const Kind = z.enum(['added', 'removed', 'modified', 'baseline', 'communications', 'flapping-started', 'flapping-stopped']);
const Planned = z.enum(['unplanned', 'planned', 'both']);
/** The fields of a rule; none has a default here, so that an update changes only what it names. */
const RuleFields = {
  name: z.string().trim().min(1).max(200),
  enabled: z.boolean(),
  scope: z.object({ deviceIds: Uuids, groupIds: Uuids, siteIds: Uuids, trackerIds: Uuids }).partial().strict(),
  filter: z
    .object({
      kinds: z.array(Kind),
      itemTypes: z.array(z.string().min(1).max(50)),
      planned: Planned,
      keyPattern: z.string().max(500).nullable(),
      /** Only events whose severity (after the mapping) is at least this. */
      minSeverity: z.enum(SEVERITIES).nullable(),
      /** Communications events: only these `details.what` (e.g. scan-failed, agent-offline, alert-channel-degraded); empty: all. */
      what: z.array(z.string().trim().min(1).max(64)).max(50),
    })
    .partial()
    .strict(),
  /** The severity of events no mapping line describes. */
  severity: z.enum(SEVERITIES),
  /** The first line that describes an event (kinds, key pattern, planned; an absent field does not narrow) gives its severity. */
  severityMap: z
    .array(z.object({ kinds: z.array(Kind).optional(), keyPattern: z.string().max(500).nullable().optional(), planned: Planned.optional(), severity: z.enum(SEVERITIES) }).strict())
    .max(50),
  channelIds: z.array(z.uuid()).min(1).max(20),
  /** Storm control: at most `maxAlerts` events alerted per window of `windowSeconds`; the rest in one summary per window (0: a digest, every event in the summary). */
  storm: z.object({ maxAlerts: z.number().int().min(0).max(100_000), windowSeconds: z.number().int().min(1).max(86_400) }).strict().nullable(),
};
export const CreateRuleSchema = z
  .object({ ...RuleFields, enabled: RuleFields.enabled.optional(), scope: RuleFields.scope.optional(), filter: RuleFields.filter.optional(), severity: RuleFields.severity.optional(), severityMap: RuleFields.severityMap.optional(), storm: RuleFields.storm.optional(), createdBy: ActorSchema.optional() })
  .strict();
export const UpdateRuleSchema = z
  .object({ ...RuleFields, editedBy: ActorSchema })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).some((k) => k !== 'editedBy'), { message: 'nothing to change' });
export const UpdateChannelSchema = z
  .object({
    name: CreateChannelSchema.shape.name,
    /** Replaces the settings as a whole (checked like a new channel's). */
    settings: z.record(z.string(), z.unknown()),
    /** Replaces the secrets named; the others are kept. */
    secrets: CreateChannelSchema.shape.secrets.unwrap(),
    editedBy: ActorSchema,
  })
  .partial()
  .strict()
  .refine((b) => Object.keys(b).some((k) => k !== 'editedBy'), { message: 'nothing to change' });

type RuleInput = Partial<z.infer<z.ZodObject<typeof RuleFields>>>;
interface FullRule {
  name: string;
  enabled: boolean;
  scope: { deviceIds: string[]; groupIds: string[]; siteIds: string[]; trackerIds: string[] };
  filter: { kinds: z.infer<typeof Kind>[]; itemTypes: string[]; planned: z.infer<typeof Planned>; keyPattern: string | null; minSeverity: Severity | null; what: string[] };
  severity: Severity;
  severityMap: SeverityMapping[];
  channelIds: string[];
  storm: { maxAlerts: number; windowSeconds: number } | null;
}
type StoredRule = FullRule & { id: string; createdAt: Date; updatedAt: Date | null };
/** A rule whole: what is given over what was stored over the defaults. */
function fullRule(given: RuleInput, stored?: StoredRule): FullRule {
  const scope: FullRule['scope'] = { deviceIds: [], groupIds: [], siteIds: [], trackerIds: [], ...stored?.scope, ...given.scope };
  const filter: FullRule['filter'] = { kinds: [], itemTypes: [], planned: 'unplanned', keyPattern: null, minSeverity: null, what: [], ...stored?.filter, ...given.filter };
  return {
    name: given.name ?? stored?.name ?? '',
    enabled: given.enabled ?? stored?.enabled ?? true,
    scope,
    filter,
    severity: given.severity ?? stored?.severity ?? 'medium',
    severityMap: given.severityMap ?? stored?.severityMap ?? [],
    channelIds: given.channelIds ?? stored?.channelIds ?? [],
    storm: given.storm !== undefined ? given.storm : (stored?.storm ?? null),
  };
}
const RULE_COLUMNS = `id, name, enabled, scope, filter, severity, severity_map AS "severityMap", channel_ids AS "channelIds", storm, created_at AS "createdAt", updated_at AS "updatedAt"`;

const DeliveriesQuerySchema = z.object({ status: z.enum(['pending', 'delivered', 'dead', 'cancelled']).optional(), channelId: z.uuid().optional(), limit: z.coerce.number().int().min(1).max(1_000).default(100) });

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

  /** Renames a channel, replaces its settings, or replaces the secrets named (the others kept); checked like a new channel. */
  @Patch('alert-channels/:id')
  async updateChannel(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdateChannelSchema)) body: z.infer<typeof UpdateChannelSchema>, @CurrentOperator() operator: OperatorIdentity): Promise<ChannelView> {
    const stored = await this.channels.load(this.db.manager, id);
    const { type: _type, ...storedSettings } = stored.settings;
    const secrets = { ...stored.secrets, ...body.secrets };
    let settings;
    try {
      settings = checkChannel(stored.type, body.settings ?? storedSettings, secrets);
    } catch (error) {
      if (error instanceof ChannelError) throw new DomainError('invalid_payload', `invalid ${stored.type} channel: ${error.message}`, { field: 'settings' });
      throw error;
    }
    if (body.name && body.name !== stored.name) {
      const exists: unknown[] = await this.db.query('SELECT 1 FROM alert_channels WHERE name = $1 AND id <> $2', [body.name, id]);
      if (exists.length) throw new DomainError('conflict', `an alert channel named "${body.name}" already exists`, { field: 'name' });
    }
    const sealed = this.channels.seal(id, secrets);
    await this.db.transaction(async (manager) => {
      await manager.query(`UPDATE alert_channels SET name = $2, settings = $3, secret_ciphertext = $4, secret_fields = $5 WHERE id = $1`, [id, body.name ?? stored.name, JSON.stringify(settings), sealed.ciphertext, JSON.stringify(sealed.fields)]);
      // Which secrets changed, never what they are.
      await audit(manager, operator, body.editedBy, 'alert-channel.updated', id, null, { name: body.name, settings: body.settings ? settings : undefined, secretsReplaced: Object.keys(body.secrets ?? {}).sort() }, 'alert-channel');
    });
    return this.channel(id);
  }

  /** Deletes a channel no rule sends to (with its deliveries); a channel still in use is a conflict naming the rules. */
  @Delete('alert-channels/:id')
  @HttpCode(204)
  async deleteChannel(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(DeletedByQuerySchema, 'query')) { deletedBy }: DeletedByQuery, @CurrentOperator() operator: OperatorIdentity): Promise<void> {
    await this.db.transaction(async (manager) => {
      // The channel first: a rule being created or changed to use it holds it FOR SHARE, so this
      // waits for that rule to commit and then finds it among the users.
      const [row]: ChannelRow[] = await manager.query(`SELECT ${CHANNEL_COLUMNS} FROM alert_channels WHERE id = $1 FOR UPDATE`, [id]);
      if (!row) throw new DomainError('not_found', `alert channel ${id} does not exist`);
      const stored = channelView(row);
      const users: { name: string }[] = await manager.query('SELECT name FROM alert_rules WHERE $1 = ANY(channel_ids) ORDER BY name FOR UPDATE', [id]);
      if (users.length) throw new DomainError('conflict', `alert channel "${stored.name}" is used by rule(s) ${users.map((u) => `"${u.name}"`).join(', ')}; take it out of them first`);
      await manager.query('DELETE FROM alert_channels WHERE id = $1', [id]);
      await audit(manager, operator, deletedBy, 'alert-channel.deleted', id, null, { name: stored.name, type: stored.type, settings: stored.settings }, 'alert-channel');
    });
  }

  /** The dead-letter list of a channel sent again (after the receiver was fixed): attempts start over. */
  @Post('alert-channels/:id/retry-dead')
  @HttpCode(200)
  async retryDead(@Param('id', UUID_PARAM) id: string): Promise<{ retried: number }> {
    await this.channel(id);
    const [{ n }]: { n: number }[] = await this.db.query(
      `WITH u AS (UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now() WHERE channel_id = $1 AND status = 'dead' RETURNING 1) SELECT count(*)::int AS n FROM u`,
      [id],
    );
    return { retried: n };
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
  async createRule(@Body(new ZodValidationPipe(CreateRuleSchema)) body: z.infer<typeof CreateRuleSchema>, @CurrentOperator() operator: OperatorIdentity): Promise<StoredRule> {
    const id = randomUUID();
    const rule = await this.checkRule(id, fullRule(body));
    await this.db.transaction(async (manager) => {
      // The channels must exist, and stay until the rule is saved (a delete checks the rules that use a channel).
      await requireExisting(manager, 'alert_channels', rule.channelIds, 'channelIds', { forShare: true });
      await manager.query(
        `INSERT INTO alert_rules (id, name, enabled, scope, filter, severity, severity_map, channel_ids, storm, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())`,
        [id, rule.name, rule.enabled, JSON.stringify(rule.scope), JSON.stringify(rule.filter), rule.severity, JSON.stringify(rule.severityMap), rule.channelIds, rule.storm ? JSON.stringify(rule.storm) : null],
      );
      await audit(manager, operator, body.createdBy, 'alert-rule.created', id, null, { rule }, 'alert-rule');
    });
    return this.rule(id);
  }

  @Get('alert-rules')
  async listRules(): Promise<{ items: StoredRule[] }> {
    return { items: await this.db.query(`SELECT ${RULE_COLUMNS} FROM alert_rules ORDER BY created_at DESC LIMIT 1000`) };
  }

  @Get('alert-rules/:id')
  getRule(@Param('id', UUID_PARAM) id: string): Promise<StoredRule> {
    return this.rule(id);
  }

  /** Changes what the body names (scope and filter field by field); the whole rule is checked again. Alerting applies it within seconds. */
  @Patch('alert-rules/:id')
  async updateRule(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(UpdateRuleSchema)) body: z.infer<typeof UpdateRuleSchema>, @CurrentOperator() operator: OperatorIdentity): Promise<StoredRule> {
    const stored = await this.rule(id);
    const rule = await this.checkRule(id, fullRule(body, stored));
    await this.db.transaction(async (manager) => {
      // The channels must exist, and stay until the rule is saved (a delete checks the rules that use a channel).
      await requireExisting(manager, 'alert_channels', rule.channelIds, 'channelIds', { forShare: true });
      await manager.query(
        `UPDATE alert_rules SET name = $2, enabled = $3, scope = $4, filter = $5, severity = $6, severity_map = $7, channel_ids = $8, storm = $9, updated_at = now() WHERE id = $1`,
        [id, rule.name, rule.enabled, JSON.stringify(rule.scope), JSON.stringify(rule.filter), rule.severity, JSON.stringify(rule.severityMap), rule.channelIds, rule.storm ? JSON.stringify(rule.storm) : null],
      );
      const { editedBy, ...changes } = body;
      await audit(manager, operator, editedBy, 'alert-rule.updated', id, null, { changes }, 'alert-rule');
    });
    return this.rule(id);
  }

  /** Deletes a rule with its deliveries and storm windows (disable it to keep them); the audit log keeps the rule. */
  @Delete('alert-rules/:id')
  @HttpCode(204)
  async deleteRule(@Param('id', UUID_PARAM) id: string, @Query(new ZodValidationPipe(DeletedByQuerySchema, 'query')) { deletedBy }: DeletedByQuery, @CurrentOperator() operator: OperatorIdentity): Promise<void> {
    await this.db.transaction(async (manager) => {
      const [stored]: StoredRule[] = await manager.query(`WITH gone AS (DELETE FROM alert_rules WHERE id = $1 RETURNING ${RULE_COLUMNS}) SELECT * FROM gone`, [id]);
      if (!stored) throw new DomainError('not_found', `alert rule ${id} does not exist`);
      await audit(manager, operator, deletedBy, 'alert-rule.deleted', id, null, { rule: stored }, 'alert-rule');
    });
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

  private async rule(id: string): Promise<StoredRule> {
    const [row]: StoredRule[] = await this.db.query(`SELECT ${RULE_COLUMNS} FROM alert_rules WHERE id = $1`, [id]);
    if (!row) throw new DomainError('not_found', `alert rule ${id} does not exist`);
    return row;
  }

  /** Compiles the rule (key patterns, channels) and checks that what it names exists. */
  private async checkRule(id: string, rule: FullRule): Promise<FullRule> {
    try {
      compileAlertRule({ id, ...rule });
    } catch (error) {
      if (error instanceof AlertRuleError) throw new DomainError('invalid_payload', error.message, { field: error.field });
      throw error;
    }
    for (const [table, ids, field] of [
      ['devices', rule.scope.deviceIds, 'scope.deviceIds'],
      ['device_groups', rule.scope.groupIds, 'scope.groupIds'],
      ['sites', rule.scope.siteIds, 'scope.siteIds'],
      ['trackers', rule.scope.trackerIds, 'scope.trackerIds'],
    ] as const) {
      await requireExisting(this.db, table, ids, field);
    }
    return rule;
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
