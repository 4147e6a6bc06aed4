import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { Alert, AlertRuleDefinition, alertSeverity, compileAlertRule, CompiledAlertRule, ruleMatches, stormWindow } from '@portolan/alerts';
import { Bus, ConsumerHandle, Outcome, Outcomes } from '@portolan/bus';
import { eventPort } from '@portolan/diff';
import { AlertingConfig } from '@portolan/config';
import { EventRecorded, Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { BatchAnswer, BUS, DATA_SOURCE, LOGGER, MicroBatcher } from '@portolan/platform';
import { ALERTING_CONFIG } from './alerting.tokens';
import { DeliveryWorker } from './delivery.worker';

const CONSUMER = 'alerting-events';
/** Rules are read again at most this often (a rule saved is in force within this time). */
const RULES_TTL_MS = 2_000;
/** A device's name, site and groups are read again at most this often. */
const DEVICE_TTL_MS = 5_000;
/** Held-back changes a storm summary (or digest) lists; beyond, it only counts them. */
const MAX_SAMPLES = 100;

interface DeviceFacts {
  name: string | null;
  siteId: string | null;
  groupIds: string[];
}

interface RuleRow {
  id: string;
  name: string;
  enabled: boolean;
  scope: AlertRuleDefinition['scope'];
  filter: AlertRuleDefinition['filter'];
  severity: AlertRuleDefinition['severity'];
  severity_map: NonNullable<AlertRuleDefinition['severityMap']>;
  channel_ids: string[];
  storm: AlertRuleDefinition['storm'];
}

/**
 * Turns recorded events into deliveries: each event is matched against the alert rules (with its
 * device's groups and site), and every rule × channel it fires for becomes one delivery row,
 * keyed by `event:rule:channel`, so a redelivered event never makes a second alert. The event is
 * acknowledged once its deliveries are stored; sending them is the DeliveryWorker's.
 */
@Injectable()
export class AlertIntake implements OnApplicationBootstrap, OnModuleDestroy {
  private consumer?: ConsumerHandle;
  private rules?: { at: number; rules: (CompiledAlertRule & { name: string })[] };
  private readonly deviceCache = new Map<string, { at: number; facts: DeviceFacts }>();
  private readonly batcher = new MicroBatcher<EventRecorded, void>((events) => this.takeBatch(events), { maxBatch: 500, concurrency: 1, maxQueued: 10_000 });

  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ALERTING_CONFIG) private readonly config: AlertingConfig,
    private readonly worker: DeliveryWorker,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.consumer = await this.bus.consume({ message: Messages.eventRecorded, durable: CONSUMER, concurrency: 256, maxDeliver: 100, startAt: 'new' }, (d) => this.take(d.envelope.payload));
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.stop();
  }

  async take(event: EventRecorded): Promise<Outcome> {
    await this.batcher.submit(event);
    return Outcomes.ack();
  }

  /**
   * One batch of events (those that arrived while the last batch was written): their devices
   * read in one query, the rules matched in memory, the deliveries written in one statement, in
   * one transaction with storm control's counts.
   */
  private async takeBatch(events: readonly EventRecorded[]): Promise<BatchAnswer<void>[]> {
    const rules = await this.currentRules();
    if (!rules.length) return events.map(() => undefined);
    const devices = await this.devices([...new Set(events.flatMap((e) => (e.deviceId ? [e.deviceId] : [])))]);
    const matched = events.flatMap((event) => {
      const device = event.deviceId ? devices.get(event.deviceId) : undefined;
      const what = typeof event.details?.['what'] === 'string' ? event.details['what'] : null;
      const facts = { kind: event.kind, deviceId: event.deviceId, groupIds: device?.groupIds ?? [], siteId: device?.siteId ?? siteOf(event), trackerId: event.trackerId, itemType: event.itemType, itemKey: event.itemKey, planned: event.planned, what };
      return rules.filter((rule) => ruleMatches(rule, facts)).map((rule) => ({ event, rule, deviceName: device?.name ?? null }));
    });
    if (!matched.length) return events.map(() => undefined);
    const plans = await this.plannedChangeNames([...new Set(matched.flatMap((m) => (m.event.plannedChangeId ? [m.event.plannedChangeId] : [])))]);
    const stored = await this.db.transaction(async (manager) => {
      const sent = [];
      for (const m of matched) if (await this.withinStorm(manager, m.rule, m.event)) sent.push(m);
      const deliveries = sent.flatMap((m) => m.rule.channelIds.map((channelId) => ({ ...m, channelId, alert: this.alert(m.event, m.rule, channelId, m.deviceName, plans.get(m.event.plannedChangeId ?? '')) })));
      if (!deliveries.length) return [];
      return (await manager.query(
        `INSERT INTO alert_deliveries (id, dedupe_key, event_id, rule_id, channel_id, alert, status, attempts, next_attempt_at, created_at, event_occurred_at)
         SELECT v.id, v.dedupe_key, v.event_id, v.rule_id, v.channel_id, v.alert, 'pending', 0, now(), now(), v.occurred_at
           FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, dedupe_key text, event_id uuid, rule_id uuid, channel_id uuid, alert jsonb, occurred_at timestamptz)
           JOIN alert_channels c ON c.id = v.channel_id
           JOIN alert_rules r ON r.id = v.rule_id -- a rule deleted since it was read alerts no more
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`,
        [
          JSON.stringify(
            deliveries.map((d) => ({ id: randomUUID(), dedupe_key: d.alert.id, event_id: d.event.eventId, rule_id: d.rule.id, channel_id: d.channelId, alert: d.alert, occurred_at: d.event.occurredAt })),
          ),
        ],
      )) as unknown[];
    });
    if (stored.length) this.worker.wake();
    return events.map(() => undefined);
  }

  /** The names of planned changes, for alerts to say which one covered a change. */
  private async plannedChangeNames(ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const rows: { id: string; name: string }[] = await this.db.query('SELECT id, name FROM planned_changes WHERE id = ANY($1::uuid[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /** Name, site and groups of devices, cached a few seconds (they change rarely; events come in bursts). */
  private async devices(ids: string[]): Promise<Map<string, DeviceFacts>> {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const hit = this.deviceCache.get(id);
      return !hit || now - hit.at > DEVICE_TTL_MS;
    });
    if (missing.length) {
      const rows: { id: string; name: string | null; site_id: string | null; group_ids: string[] }[] = await this.db.query(
        `SELECT d.id, d.name, d.site_id, ARRAY(SELECT m.group_id FROM device_group_members m WHERE m.device_id = d.id) AS group_ids FROM devices d WHERE d.id = ANY($1::uuid[])`,
        [missing],
      );
      if (this.deviceCache.size > 50_000) this.deviceCache.clear();
      for (const r of rows) this.deviceCache.set(r.id, { at: now, facts: { name: r.name, siteId: r.site_id, groupIds: r.group_ids } });
    }
    return new Map(ids.flatMap((id) => {
      const hit = this.deviceCache.get(id);
      return hit ? [[id, hit.facts] as const] : [];
    }));
  }

  /**
   * Storm control: whether this event is one of the rule's first `maxAlerts` in its window (then
   * it is alerted) or one more (then it is counted, and listed, for the window's summary). With
   * `maxAlerts` 0 every event waits for the summary: a digest, one alert per rule per window. An event already
   * alerted (a redelivery) is let through to the dedupe key, and not counted again.
   */
  private async withinStorm(manager: EntityManager, rule: CompiledAlertRule, event: EventRecorded): Promise<boolean> {
    if (!rule.storm) return true;
    const seen: unknown[] = await manager.query('SELECT 1 FROM alert_deliveries WHERE event_id = $1 AND rule_id = $2 LIMIT 1', [event.eventId, rule.id]);
    if (seen.length) return true;
    const window = stormWindow(new Date(), rule.storm.windowSeconds);
    await manager.query(
      `INSERT INTO alert_storms (rule_id, window_start, window_seconds) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = $1) ON CONFLICT DO NOTHING`,
      [rule.id, window, rule.storm.windowSeconds],
    );
    const [storm]: { alerted: number }[] = await manager.query('SELECT alerted FROM alert_storms WHERE rule_id = $1 AND window_start = $2 FOR UPDATE', [rule.id, window]);
    if (!storm) return false; // the rule was deleted since it was read
    const { alerted } = storm;
    const send = alerted < rule.storm.maxAlerts;
    if (send) await manager.query('UPDATE alert_storms SET alerted = alerted + 1 WHERE rule_id = $1 AND window_start = $2', [rule.id, window]);
    else {
      const sample = { eventId: event.eventId, kind: event.kind, host: event.host, itemKey: event.itemKey, planned: event.planned, occurredAt: event.occurredAt };
      await manager.query(
        `UPDATE alert_storms SET suppressed = suppressed + 1,
                samples = CASE WHEN jsonb_array_length(samples) < ${MAX_SAMPLES} THEN samples || jsonb_build_array($3::jsonb) ELSE samples END
          WHERE rule_id = $1 AND window_start = $2`,
        [rule.id, window, JSON.stringify(sample)],
      );
    }
    return send;
  }

  private alert(event: EventRecorded, rule: CompiledAlertRule & { name: string }, channelId: string, deviceName: string | null, plannedChangeName: string | undefined): Alert {
    return {
      id: `${event.eventId}:${rule.id}:${channelId}`,
      rule: { id: rule.id, name: rule.name },
      severity: alertSeverity(rule, event),
      event: {
        id: event.eventId,
        kind: event.kind,
        occurredAt: event.occurredAt,
        device: { id: event.deviceId, name: deviceName },
        host: event.host,
        itemType: event.itemType,
        itemKey: event.itemKey,
        ...eventPort(event.itemType, event.before, event.after),
        before: event.before,
        after: event.after,
        planned: event.planned,
        plannedChangeId: event.plannedChangeId ?? null,
        plannedChangeName: plannedChangeName ?? null,
        details: event.details ?? null,
      },
      link: `${this.config.consoleUrl.replace(/\/$/, '')}/api/events/${event.eventId}`,
    };
  }

  private async currentRules(): Promise<(CompiledAlertRule & { name: string })[]> {
    if (this.rules && Date.now() - this.rules.at < RULES_TTL_MS) return this.rules.rules;
    const rows: RuleRow[] = await this.db.query('SELECT id, name, enabled, scope, filter, severity, severity_map, channel_ids, storm FROM alert_rules WHERE enabled');
    const rules = rows.flatMap((r) => {
      try {
        return [{ ...compileAlertRule({ id: r.id, enabled: r.enabled, scope: r.scope, filter: r.filter, severity: r.severity, severityMap: r.severity_map, channelIds: r.channel_ids, storm: r.storm }), name: r.name }];
      } catch (error) {
        this.logger.error({ ruleId: r.id, err: String(error) }, 'a stored alert rule does not compile; ignored');
        return [];
      }
    });
    this.rules = { at: Date.now(), rules };
    return rules;
  }
}

/** The site an event without a device names (`details.siteId`: a scanner worker's or collector's, `worker-offline`), if any. */
function siteOf(event: EventRecorded): string | null {
  const siteId = event.details?.['siteId'];
  return typeof siteId === 'string' ? siteId : null;
}
