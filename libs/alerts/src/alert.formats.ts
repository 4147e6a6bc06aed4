import { createHmac } from 'node:crypto';
import { Severity } from './alert-rule';

/** Everything an alert says: what changed, where, whether it was planned and by what, when, and where to look. */
export interface Alert {
  /** The delivery's dedupe key: one alert per event, rule and channel. */
  readonly id: string;
  readonly rule: { readonly id: string; readonly name: string };
  readonly severity: Severity;
  readonly event: {
    readonly id: string;
    readonly kind: string;
    readonly occurredAt: string;
    /** The device; id null for events of the hub itself (an alert channel degraded). */
    readonly device: { readonly id: string | null; readonly name: string | null };
    readonly host: string | null;
    readonly itemType: string | null;
    readonly itemKey: string | null;
    readonly protocol: string | null;
    readonly port: number | null;
    readonly before: Record<string, unknown> | null;
    readonly after: Record<string, unknown> | null;
    readonly planned: boolean;
    readonly plannedChangeId: string | null;
    /** The planned change's name (e.g. its ticket), when the event is planned. */
    readonly plannedChangeName?: string | null;
    /** Communications events: what happened (`what`) and why (`reason`), with its figures. */
    readonly details?: Record<string, unknown> | null;
  };
  /** The event in the console. */
  readonly link: string;
  /**
   * Set on an alert that resolves the one with this id (PagerDuty): the change it was about is
   * now covered by a planned change (`event.plannedChangeId`).
   */
  readonly resolves?: string;
  /** Storm control: this alert stands for `suppressed` alerts of its rule that were held back. */
  readonly summary?: {
    readonly suppressed: number;
    readonly windowStart: string;
    readonly windowSeconds: number;
    /** The first of them (at most 100). */
    readonly samples: readonly { readonly eventId: string; readonly kind: string; readonly host: string | null; readonly itemKey: string | null; readonly planned: boolean; readonly occurredAt: string }[];
  };
}

const KIND_TITLES: Record<string, string> = {
  added: 'opened',
  removed: 'closed',
  modified: 'changed',
  baseline: 'baselined',
  communications: 'communications',
  'flapping-started': 'started flapping',
  'flapping-stopped': 'stopped flapping',
  'storm-summary': 'summary',
};

/** One line: "Unplanned: tcp/3389 opened on 127.0.0.5 (web-01)", "Communications: scan-failed on web-01 (…)". */
export function alertTitle(alert: Alert): string {
  if (alert.summary) return `${alert.summary.suppressed} ${alert.summary.suppressed === 1 ? 'change' : 'changes'} for rule "${alert.rule.name}" in the ${Math.round(alert.summary.windowSeconds / 60) || 1} minute(s) from ${alert.summary.windowStart}, not alerted one by one`;
  const e = alert.event;
  const what = e.itemKey ?? e.kind;
  const where = e.host ? `${e.host}${e.device.name ? ` (${e.device.name})` : ''}` : (e.device.name ?? e.device.id ?? 'the Portolan hub');
  if (e.kind === 'communications') {
    const reason = e.details?.['reason'];
    return `Communications: ${String(e.details?.['what'] ?? 'communications')} on ${where}${typeof reason === 'string' ? ` (${reason})` : ''}`;
  }
  return `${e.planned ? `Planned${e.plannedChangeName ? ` (${e.plannedChangeName})` : ''}` : 'Unplanned'}: ${what} ${KIND_TITLES[e.kind] ?? e.kind} on ${where}`;
}

/**
 * The generic webhook's signature: `v1=` and the hex HMAC-SHA256, under the channel's secret, of
 * `<timestamp>.<body>` (the timestamp in Unix seconds, sent as X-Portolan-Timestamp). A receiver
 * recomputes it over the raw body and rejects a timestamp older than a few minutes.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Slack incoming webhook: Block Kit. */
export function slackMessage(alert: Alert): Record<string, unknown> {
  const title = alertTitle(alert);
  return {
    text: title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } },
      { type: 'section', fields: facts(alert).map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}` })).slice(0, 10) },
      { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in Portolan' }, url: alert.link }] },
    ],
  };
}

/** Microsoft Teams workflow webhook: an Adaptive Card. */
export function teamsMessage(alert: Alert): Record<string, unknown> {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', size: 'Medium', weight: 'Bolder', wrap: true, text: alertTitle(alert) },
            { type: 'FactSet', facts: facts(alert).map(([title, value]) => ({ title, value })) },
          ],
          actions: [{ type: 'Action.OpenUrl', title: 'Open in Portolan', url: alert.link }],
        },
      },
    ],
  };
}

function facts(alert: Alert): [string, string][] {
  const e = alert.event;
  const out: [string, string][] = [
    ['Severity', alert.severity],
    ['Device', e.device.name ?? e.device.id ?? 'the Portolan hub'],
    ['Host', e.host ?? '-'],
    ['Change', `${e.kind} ${e.itemKey ?? ''}`.trim()],
    ['Planned', e.planned ? `yes: ${e.plannedChangeName ? `${e.plannedChangeName} (${e.plannedChangeId})` : e.plannedChangeId}` : 'no'],
    ['When', e.occurredAt],
    ['Rule', alert.rule.name],
  ];
  if (e.before) out.push(['Before', compact(e.before)]);
  if (e.after) out.push(['After', compact(e.after)]);
  if (e.details) out.push(['Details', compact(e.details)]);
  if (alert.summary) {
    const shown = alert.summary.samples.slice(0, 20).map((s) => `${s.kind} ${s.itemKey ?? ''} on ${s.host ?? '?'}${s.planned ? ' (planned)' : ''}`);
    out.push(['Changes', `${shown.join('; ')}${alert.summary.suppressed > shown.length ? `; and ${alert.summary.suppressed - shown.length} more` : ''}`]);
  }
  return out;
}

function compact(attributes: Record<string, unknown>): string {
  return Object.entries(attributes)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

const SYSLOG_SEVERITY: Record<Severity, number> = { critical: 2, high: 3, medium: 4, low: 5, info: 6 };
const CEF_SEVERITY: Record<Severity, number> = { critical: 10, high: 8, medium: 5, low: 3, info: 1 };
/** local0 */
const FACILITY = 16;

/**
 * ArcSight CEF: `CEF:0|Portolan|Portolan|<version>|<kind>|<title>|<severity>|<extension>`, header
 * fields escaping `\` and `|`, extension values `\`, `=` and line breaks.
 */
export function cefMessage(alert: Alert, version: string): string {
  const e = alert.event;
  const header = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
  const value = (s: string) => s.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r?\n/g, '\\n');
  const ext: [string, string | number | null][] = [
    ['rt', Date.parse(e.occurredAt)],
    ['dvchost', e.device.name],
    ['dst', e.host],
    ['dpt', e.port],
    ['proto', e.protocol],
    ['act', e.kind],
    ['cs1Label', 'itemKey'],
    ['cs1', e.itemKey],
    ['cs2Label', 'planned'],
    ['cs2', String(e.planned)],
    ['cs3Label', 'plannedChangeId'],
    ['cs3', e.plannedChangeId],
    ['cs5Label', 'plannedChange'],
    ['cs5', e.plannedChangeName ?? null],
    ['cs4Label', 'rule'],
    ['cs4', alert.rule.name],
    ['reason', typeof e.details?.['reason'] === 'string' ? e.details['reason'] : null],
    ['externalId', e.id],
    ['request', alert.link],
  ];
  const extension = ext
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${value(String(v))}`)
    .join(' ');
  return `CEF:0|Portolan|Portolan|${header(version)}|${header(e.kind)}|${header(alertTitle(alert))}|${CEF_SEVERITY[alert.severity]}|${extension}`;
}

/** An RFC 5424 syslog message (local0, severity from the alert's), with the body in CEF or JSON. */
export function syslogMessage(alert: Alert, options: { hostname: string; format: 'cef' | 'json'; version: string; now?: Date }): string {
  const pri = FACILITY * 8 + SYSLOG_SEVERITY[alert.severity];
  const timestamp = (options.now ?? new Date()).toISOString();
  const body = options.format === 'cef' ? cefMessage(alert, options.version) : JSON.stringify(alert);
  const sd = `[portolan@32473 eventId="${sdValue(alert.event.id)}" kind="${sdValue(alert.event.kind)}" planned="${alert.event.planned}"]`;
  return `<${pri}>1 ${timestamp} ${printable(options.hostname)} portolan - ${printable(alert.event.kind)} ${sd} ${body}`;
}

function sdValue(s: string): string {
  return s.replace(/["\\\]]/g, '\\$&');
}

function printable(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '_').slice(0, 48) || '-';
}

/** The e-mail of an alert: the title as subject, the facts as a text and a small HTML table. */
export function emailMessage(alert: Alert): { subject: string; text: string; html: string } {
  const title = alertTitle(alert);
  const rows = facts(alert);
  const escape = (t: string) => t.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
  const text = `${title}\n\n${rows.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${alert.link}\n`;
  const html = `<!doctype html><html><body style="font-family:sans-serif"><h2>${escape(title)}</h2><table cellpadding="4">${rows
    .map(([k, v]) => `<tr><th align="left">${escape(k)}</th><td>${escape(v)}</td></tr>`)
    .join('')}</table><p><a href="${escape(alert.link)}">Open in Portolan</a></p></body></html>`;
  return { subject: title.slice(0, 200), text, html };
}
