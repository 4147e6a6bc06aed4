import { createSocket } from 'node:dgram';
import { isIP, connect as netConnect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createTransport } from 'nodemailer';
import { Alert, alertTitle, emailMessage, signWebhook, slackMessage, syslogMessage, teamsMessage } from './alert.formats';

export const CHANNEL_TYPES = ['webhook', 'slack', 'teams', 'pagerduty', 'splunk-hec', 'syslog', 'email'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** A channel's settings (not secret) and its opened secrets. */
export type ChannelSettings =
  | { readonly type: 'webhook'; readonly url: string; readonly headers?: Record<string, string> }
  | { readonly type: 'slack' | 'teams'; readonly url?: never }
  /**
   * PagerDuty Events API v2: `url` is the enqueue endpoint (https://events.pagerduty.com/v2/enqueue,
   * or the EU one). `resolveWhenPlanned` (default true): an incident opened for an unplanned
   * change is resolved when a planned change approved later covers that change.
   */
  | { readonly type: 'pagerduty'; readonly url: string; readonly resolveWhenPlanned: boolean }
  /** Splunk HTTP Event Collector: `url` is the collector's event endpoint (…/services/collector/event). */
  | { readonly type: 'splunk-hec'; readonly url: string; readonly index?: string; readonly sourcetype: string }
  /** E-mail over SMTP: `starttls` (the default) upgrades port 587/25, `tls` is implicit TLS (465); `ca` trusts a private CA. */
  | { readonly type: 'email'; readonly host: string; readonly port: number; readonly security: 'starttls' | 'tls'; readonly from: string; readonly to: readonly string[]; readonly ca?: string }
  | { readonly type: 'syslog'; readonly host: string; readonly port: number; readonly transport: 'udp' | 'tcp' | 'tls'; readonly format: 'cef' | 'json'; readonly ca?: string };

export interface ChannelSecrets {
  /** Webhook: the HMAC secret. */
  readonly signingSecret?: string;
  /** Slack and Teams: the webhook URL, which is itself the credential. */
  readonly url?: string;
  /** PagerDuty: the integration's routing key. */
  readonly routingKey?: string;
  /** Splunk HEC: the token. */
  readonly token?: string;
  /** E-mail: the SMTP login, if the server asks for one. */
  readonly username?: string;
  readonly password?: string;
}

export class ChannelError extends Error {
  override readonly name = 'ChannelError';
}

const TIMEOUT_MS = 10_000;

/**
 * Delivers one alert to one channel; resolves when the receiver took it (2xx, or the syslog
 * bytes written), rejects with a ChannelError saying why not. Never follows redirects and never
 * puts a secret in an error: a URL is named by its origin only.
 */
export async function deliver(settings: ChannelSettings, secrets: ChannelSecrets, alert: Alert, meta: { hostname: string; version: string }): Promise<void> {
  if (alert.resolves && settings.type !== 'pagerduty') return; // only incidents are resolved
  switch (settings.type) {
    case 'webhook': {
      const body = JSON.stringify(alert);
      const timestamp = Math.floor(Date.now() / 1000);
      const headers: Record<string, string> = {
        ...settings.headers,
        'content-type': 'application/json',
        'user-agent': `portolan/${meta.version}`,
        'x-portolan-delivery': alert.id,
        'x-portolan-timestamp': String(timestamp),
      };
      if (secrets.signingSecret) headers['x-portolan-signature'] = signWebhook(secrets.signingSecret, timestamp, body);
      return post(settings.url, headers, body);
    }
    case 'slack':
    case 'teams': {
      if (!secrets.url) throw new ChannelError(`the ${settings.type} channel has no webhook URL`);
      const body = JSON.stringify(settings.type === 'slack' ? slackMessage(alert) : teamsMessage(alert));
      return post(secrets.url, { 'content-type': 'application/json', 'user-agent': `portolan/${meta.version}` }, body);
    }
    case 'pagerduty': {
      if (!secrets.routingKey) throw new ChannelError('the PagerDuty channel has no routing key');
      return post(settings.url, { 'content-type': 'application/json', 'user-agent': `portolan/${meta.version}` }, JSON.stringify(pagerDutyEvent(alert, secrets.routingKey)));
    }
    case 'splunk-hec': {
      if (!secrets.token) throw new ChannelError('the Splunk HEC channel has no token');
      const body = { time: Date.parse(alert.event.occurredAt) / 1000, host: meta.hostname, source: 'portolan', sourcetype: settings.sourcetype, ...(settings.index ? { index: settings.index } : {}), event: alert };
      return post(settings.url, { 'content-type': 'application/json', authorization: `Splunk ${secrets.token}`, 'user-agent': `portolan/${meta.version}` }, JSON.stringify(body));
    }
    case 'syslog':
      return sendSyslog(settings, syslogMessage(alert, { hostname: meta.hostname, format: settings.format, version: meta.version }));
    case 'email':
      return sendMail(settings, secrets, alert);
  }
}

/**
 * One alert as an e-mail (text and HTML). TLS is required either way (STARTTLS or implicit), the
 * server's certificate verified; the password travels only inside TLS, never in an error.
 */
async function sendMail(settings: Extract<ChannelSettings, { type: 'email' }>, secrets: ChannelSecrets, alert: Alert): Promise<void> {
  const transport = createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ...(secrets.username ? { auth: { user: secrets.username, pass: secrets.password ?? '' } } : {}),
    // SNI carries host names only (RFC 6066); an address is verified against the certificate's IP SAN.
    tls: { ...(isIP(settings.host) ? {} : { servername: settings.host }), ...(settings.ca ? { ca: settings.ca } : {}) },
    connectionTimeout: TIMEOUT_MS,
    greetingTimeout: TIMEOUT_MS,
    socketTimeout: TIMEOUT_MS,
  });
  try {
    const mail = emailMessage(alert);
    await transport.sendMail({ from: settings.from, to: [...settings.to], subject: mail.subject, text: mail.text, html: mail.html, headers: { 'X-Portolan-Alert': alert.id } });
  } catch (error) {
    const e = error as { code?: string; responseCode?: number };
    throw new ChannelError(`SMTP ${settings.host}:${settings.port}: ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}`);
  } finally {
    transport.close();
  }
}

const PAGERDUTY_SEVERITY: Record<Alert['severity'], string> = { critical: 'critical', high: 'error', medium: 'warning', low: 'info', info: 'info' };

/**
 * A PagerDuty Events API v2 event: a trigger whose dedup key is the alert id (a retried send
 * opens no second incident), or, for an alert that `resolves` an earlier one, the resolve of
 * that incident.
 */
export function pagerDutyEvent(alert: Alert, routingKey: string): Record<string, unknown> {
  if (alert.resolves) return { routing_key: routingKey, event_action: 'resolve', dedup_key: alert.resolves.slice(0, 255) };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: alert.id.slice(0, 255),
    payload: {
      summary: alertTitle(alert).slice(0, 1024),
      source: alert.event.host ?? alert.event.device.name ?? 'portolan',
      severity: PAGERDUTY_SEVERITY[alert.severity],
      timestamp: alert.event.occurredAt,
      component: alert.event.itemKey ?? undefined,
      group: alert.event.device.name ?? undefined,
      class: alert.event.kind,
      custom_details: { rule: alert.rule.name, planned: alert.event.planned, plannedChangeId: alert.event.plannedChangeId, before: alert.event.before, after: alert.event.after, ...(alert.summary ? { summary: alert.summary } : {}) },
    },
    links: [{ href: alert.link, text: 'Open in Portolan' }],
  };
}

async function post(url: string, headers: Record<string, string>, body: string): Promise<void> {
  const origin = new URL(url).origin;
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new ChannelError(`POST to ${origin} failed: ${cause}`);
  }
  await response.arrayBuffer().catch(() => undefined);
  if (response.status < 200 || response.status >= 300) throw new ChannelError(`POST to ${origin} answered ${response.status}`);
}

function sendSyslog(settings: Extract<ChannelSettings, { type: 'syslog' }>, message: string): Promise<void> {
  const where = `syslog ${settings.transport}://${settings.host}:${settings.port}`;
  if (settings.transport === 'udp') {
    return new Promise((resolve, reject) => {
      const socket = createSocket(settings.host.includes(':') ? 'udp6' : 'udp4');
      socket.send(Buffer.from(message, 'utf8'), settings.port, settings.host, (error) => {
        socket.close();
        if (error) reject(new ChannelError(`${where}: ${error.message}`));
        else resolve();
      });
    });
  }
  // RFC 6587 octet counting: "<length> <message>".
  const frame = Buffer.from(message, 'utf8');
  const data = Buffer.concat([Buffer.from(`${frame.length} `), frame]);
  return new Promise((resolve, reject) => {
    const socket: Socket =
      settings.transport === 'tls'
        ? tlsConnect({ host: settings.host, port: settings.port, ...(isIP(settings.host) ? {} : { servername: settings.host }), ...(settings.ca ? { ca: settings.ca } : {}) })
        : netConnect({ host: settings.host, port: settings.port });
    const fail = (error: Error) => {
      socket.destroy();
      reject(new ChannelError(`${where}: ${error.message}`));
    };
    socket.setTimeout(TIMEOUT_MS, () => fail(new Error('timed out')));
    socket.once('error', fail);
    socket.once(settings.transport === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.end(data, () => resolve());
    });
  });
}

/** Checks a channel's settings and secrets, naming what is wrong; returns them normalised. */
export function checkChannel(type: ChannelType, settings: Record<string, unknown>, secrets: ChannelSecrets): ChannelSettings {
  const url = (value: unknown, field: string) => {
    if (typeof value !== 'string') throw new ChannelError(`${field}: a URL is required`);
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ChannelError(`${field}: "${value.slice(0, 80)}" is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ChannelError(`${field}: ${parsed.protocol} is not http or https`);
    if (parsed.username || parsed.password) throw new ChannelError(`${field}: put credentials in the channel's secrets, not in the URL`);
    return value;
  };
  switch (type) {
    case 'webhook': {
      const headers = (settings['headers'] ?? {}) as Record<string, unknown>;
      for (const [name, value] of Object.entries(headers)) {
        if (!/^[A-Za-z0-9-]{1,64}$/.test(name) || typeof value !== 'string' || /[\r\n]/.test(value)) throw new ChannelError(`headers.${name}: not a valid header`);
        if (/^(content-type|x-portolan-)/i.test(name)) throw new ChannelError(`headers.${name}: set by Portolan`);
      }
      return { type, url: url(settings['url'], 'url'), headers: headers as Record<string, string> };
    }
    case 'slack':
    case 'teams':
      url(secrets.url, 'secrets.url');
      return { type };
    case 'pagerduty':
      if (!secrets.routingKey) throw new ChannelError('secrets.routingKey: the integration\'s routing key is required');
      if (settings['resolveWhenPlanned'] !== undefined && typeof settings['resolveWhenPlanned'] !== 'boolean') throw new ChannelError('resolveWhenPlanned: true or false');
      return { type, url: url(settings['url'], 'url'), resolveWhenPlanned: settings['resolveWhenPlanned'] !== false };
    case 'splunk-hec': {
      if (!secrets.token) throw new ChannelError('secrets.token: the HEC token is required');
      const index = settings['index'];
      if (index !== undefined && (typeof index !== 'string' || !/^[a-z0-9_-]{1,80}$/.test(index))) throw new ChannelError('index: lower-case letters, digits, _ and -');
      return { type, url: url(settings['url'], 'url'), sourcetype: typeof settings['sourcetype'] === 'string' ? settings['sourcetype'] : 'portolan:alert', ...(typeof index === 'string' ? { index } : {}) };
    }
    case 'email': {
      const host = settings['host'];
      const port = settings['port'] ?? 587;
      const security = settings['security'] ?? 'starttls';
      const address = /^[^\s@<>]+@[^\s@<>]+$/;
      const to = settings['to'];
      if (typeof host !== 'string' || !/^[A-Za-z0-9.:-]{1,253}$/.test(host)) throw new ChannelError('host: the SMTP server\'s host name or address is required');
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535) throw new ChannelError('port: 1-65535');
      if (security !== 'starttls' && security !== 'tls') throw new ChannelError('security: starttls or tls (mail is never sent in the clear)');
      if (typeof settings['from'] !== 'string' || !address.test(settings['from'])) throw new ChannelError('from: an e-mail address is required');
      if (!Array.isArray(to) || !to.length || to.length > 50 || !to.every((t) => typeof t === 'string' && address.test(t))) throw new ChannelError('to: 1 to 50 e-mail addresses');
      if (secrets.password && !secrets.username) throw new ChannelError('secrets.username: a password needs a user name');
      return { type, host, port: port as number, security, from: settings['from'], to: to as string[], ...(typeof settings['ca'] === 'string' ? { ca: settings['ca'] } : {}) };
    }
    case 'syslog': {
      const host = settings['host'];
      const port = settings['port'];
      const transport = settings['transport'] ?? 'udp';
      const format = settings['format'] ?? 'cef';
      if (typeof host !== 'string' || !/^[A-Za-z0-9.:-]{1,253}$/.test(host)) throw new ChannelError('host: a host name or address is required');
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65_535) throw new ChannelError('port: 1-65535');
      if (transport !== 'udp' && transport !== 'tcp' && transport !== 'tls') throw new ChannelError('transport: udp, tcp or tls');
      if (format !== 'cef' && format !== 'json') throw new ChannelError('format: cef or json');
      return { type, host, port: port as number, transport, format, ...(typeof settings['ca'] === 'string' ? { ca: settings['ca'] } : {}) };
    }
  }
}
