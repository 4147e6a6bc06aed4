import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { alertSeverity, AlertRuleDefinition, compileAlertRule, retryDelayMs, ruleMatches } from './alert-rule';
import { Alert, alertTitle, cefMessage, signWebhook, syslogMessage } from './alert.formats';
import { checkChannel, pagerDutyEvent } from './channel.senders';

const rule = (over: Partial<AlertRuleDefinition> = {}): AlertRuleDefinition => ({
  id: 'r1',
  enabled: true,
  scope: { deviceIds: [], groupIds: ['g1'], siteIds: [], trackerIds: [] },
  filter: { kinds: ['added'], itemTypes: ['port'], planned: 'unplanned', keyPattern: 'tcp/3389' },
  severity: 'high',
  channelIds: ['c1'],
  ...over,
});
const event = { kind: 'added', deviceId: 'd1', groupIds: ['g1'], siteId: null, trackerId: 't1', itemType: 'port', itemKey: 'tcp/3389', planned: false };

describe('alert rules', () => {
  it('fire for an unplanned RDP port opened in the group, and not for a planned one, another port or group', () => {
    const r = compileAlertRule(rule());
    expect(ruleMatches(r, event)).toBe(true);
    expect(ruleMatches(r, { ...event, planned: true })).toBe(false);
    expect(ruleMatches(r, { ...event, itemKey: 'tcp/22' })).toBe(false);
    expect(ruleMatches(r, { ...event, groupIds: ['g2'] })).toBe(false);
    expect(ruleMatches(r, { ...event, kind: 'removed' })).toBe(false);
    expect(ruleMatches(compileAlertRule(rule({ enabled: false })), event)).toBe(false);
  });

  it('an empty scope is the whole estate; "both" takes planned and unplanned', () => {
    const r = compileAlertRule(rule({ scope: { deviceIds: [], groupIds: [], siteIds: [], trackerIds: [] }, filter: { kinds: [], itemTypes: [], planned: 'both', keyPattern: null } }));
    expect(ruleMatches(r, { ...event, groupIds: [], planned: true, kind: 'communications', itemKey: null, itemType: null })).toBe(true);
  });

  it('communications events can be narrowed by what happened; other events are not narrowed by it', () => {
    const failures = compileAlertRule(rule({ scope: { deviceIds: [], groupIds: [], siteIds: [], trackerIds: [] }, filter: { kinds: [], itemTypes: [], planned: 'both', keyPattern: null, what: ['scan-failed', 'agent-offline'] } }));
    const comms = { ...event, kind: 'communications', itemKey: null, itemType: null };
    expect(ruleMatches(failures, { ...comms, what: 'scan-failed' })).toBe(true);
    expect(ruleMatches(failures, { ...comms, what: 'scan-finished' })).toBe(false);
    expect(ruleMatches(failures, { ...comms, what: null })).toBe(false);
    expect(ruleMatches(failures, event)).toBe(true); // an opened port is not a communications event
  });

  it("events of the hub itself (no device) match only rules scoped to the whole estate", () => {
    const hub = { ...event, deviceId: null, groupIds: [], kind: 'communications', itemKey: null, itemType: null };
    const everywhere = { deviceIds: [], groupIds: [], siteIds: [], trackerIds: [] };
    const any = { kinds: ['communications'], itemTypes: [], planned: 'both' as const, keyPattern: null };
    expect(ruleMatches(compileAlertRule(rule({ scope: everywhere, filter: any })), hub)).toBe(true);
    expect(ruleMatches(compileAlertRule(rule({ scope: { ...everywhere, deviceIds: ['d1'] }, filter: any })), hub)).toBe(false);
    expect(ruleMatches(compileAlertRule(rule({ filter: any })), hub)).toBe(false);
  });

  it('a severity mapping: the first line describing the event gives its severity; minSeverity keeps only those at least that', () => {
    const mapped = compileAlertRule(
      rule({
        severity: 'low',
        filter: { kinds: [], itemTypes: ['port'], planned: 'both', keyPattern: null },
        severityMap: [
          { keyPattern: 'tcp/3389', planned: 'unplanned', severity: 'critical' },
          { kinds: ['added'], severity: 'high' },
        ],
      }),
    );
    expect(alertSeverity(mapped, event)).toBe('critical');
    expect(alertSeverity(mapped, { ...event, planned: true })).toBe('high');
    expect(alertSeverity(mapped, { ...event, kind: 'removed', itemKey: 'tcp/22' })).toBe('low');
    const highOnly = compileAlertRule({ ...mapped, filter: { ...mapped.filter, minSeverity: 'high' } });
    expect(ruleMatches(highOnly, { ...event, planned: true })).toBe(true);
    expect(ruleMatches(highOnly, { ...event, kind: 'removed', itemKey: 'tcp/22' })).toBe(false);
    expect(() => compileAlertRule(rule({ severityMap: [{ keyPattern: 'udp/70000', severity: 'high' }] }))).toThrow('severityMap[0].keyPattern: port 70000');
  });

  it('refuses a bad key pattern and a rule without channels, naming the field', () => {
    expect(() => compileAlertRule(rule({ filter: { kinds: [], itemTypes: ['port'], planned: 'both', keyPattern: 'tcp/99999' } }))).toThrow('filter.keyPattern: port 99999');
    expect(() => compileAlertRule(rule({ channelIds: [] }))).toThrow('channelIds: a rule needs at least one channel');
  });

  it('property: retry delays grow, stay within [ceiling/2, ceiling], and cap at 5 minutes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(300_000, 1_000 * 2 ** (attempt - 1));
        const delay = retryDelayMs(attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(delay).toBeLessThanOrEqual(ceiling);
      }),
    );
  });
});

const alert: Alert = {
  id: 'a1',
  rule: { id: 'r1', name: 'RDP | exposure' },
  severity: 'high',
  event: { id: 'e1', kind: 'added', occurredAt: '2026-12-01T10:00:00.000Z', device: { id: 'd1', name: 'web=01' }, host: '127.0.0.5', itemType: 'port', itemKey: 'tcp/3389', protocol: 'tcp', port: 3389, before: null, after: { protocol: 'tcp', port: 3389, state: 'open' }, planned: false, plannedChangeId: null },
  link: 'https://hub.example/api/events/e1',
};

describe('alert formats', () => {
  it('signs webhooks as HMAC-SHA256 of "<timestamp>.<body>"', () => {
    expect(signWebhook('s3cret', 1764583200, '{"a":1}')).toBe(`v1=${createHmac('sha256', 's3cret').update('1764583200.{"a":1}').digest('hex')}`);
  });

  it('CEF escapes | in the header and = in extension values', () => {
    const cef = cefMessage(alert, '0.1.0');
    expect(cef.startsWith('CEF:0|Portolan|Portolan|0.1.0|added|Unplanned: tcp/3389 opened on 127.0.0.5 (web=01)|8|')).toBe(true);
    expect(cef).toContain('dvchost=web\\=01');
    expect(cef).toContain('cs4=RDP | exposure');
    expect(cef).toContain('dpt=3389');
  });

  it('a planned change is named in the title and the facts', () => {
    const planned: Alert = { ...alert, event: { ...alert.event, planned: true, plannedChangeId: 'p1', plannedChangeName: 'CHG-1042 web tier' } };
    expect(alertTitle(planned)).toBe('Planned (CHG-1042 web tier): tcp/3389 opened on 127.0.0.5 (web=01)');
    expect(cefMessage(planned, '0.1.0')).toContain('cs5=CHG-1042 web tier');
  });

  it('a communications event of the hub says what happened and why, with no planned/unplanned', () => {
    const hub: Alert = { ...alert, event: { ...alert.event, kind: 'communications', device: { id: null, name: null }, host: null, itemType: null, itemKey: null, protocol: null, port: null, after: null, details: { what: 'alert-channel-degraded', channelName: 'soc', reason: 'POST to https://hooks.example answered 503' } } };
    expect(alertTitle(hub)).toBe('Communications: alert-channel-degraded on the Portolan hub (POST to https://hooks.example answered 503)');
    expect(cefMessage(hub, '0.1.0')).toContain('reason=POST to https://hooks.example answered 503');
  });

  it('PagerDuty: a trigger keyed by the alert id; an alert that resolves one sends the resolve under that key', () => {
    expect(pagerDutyEvent(alert, 'rk')).toMatchObject({ routing_key: 'rk', event_action: 'trigger', dedup_key: alert.id, payload: { severity: 'error', class: 'added' } });
    expect(pagerDutyEvent({ ...alert, resolves: alert.id }, 'rk')).toEqual({ routing_key: 'rk', event_action: 'resolve', dedup_key: alert.id });
    expect(checkChannel('pagerduty', { url: 'https://events.example/v2/enqueue' }, { routingKey: 'rk' })).toEqual({ type: 'pagerduty', url: 'https://events.example/v2/enqueue', resolveWhenPlanned: true });
    expect(() => checkChannel('pagerduty', { url: 'https://events.example/v2/enqueue', resolveWhenPlanned: 'yes' }, { routingKey: 'rk' })).toThrow('resolveWhenPlanned: true or false');
  });

  it('RFC 5424: local0 with the severity, version 1, structured data, then the body', () => {
    const line = syslogMessage(alert, { hostname: 'hub 1', format: 'cef', version: '0.1.0', now: new Date('2026-12-01T10:00:01.000Z') });
    expect(line).toMatch(/^<131>1 2026-12-01T10:00:01\.000Z hub_1 portolan - added \[portolan@32473 eventId="e1" kind="added" planned="false"\] CEF:0\|/);
  });

  it('channel settings: a URL must be http(s) without credentials; syslog needs host, port and transport', () => {
    expect(() => checkChannel('webhook', { url: 'ftp://x' }, {})).toThrow('url: ftp: is not http or https');
    expect(() => checkChannel('webhook', { url: 'not a url' }, {})).toThrow('url: "not a url" is not a URL');
    expect(() => checkChannel('webhook', { url: 'https://u:p@h.example/' }, {})).toThrow('not in the URL');
    expect(() => checkChannel('slack', {}, {})).toThrow('secrets.url: a URL is required');
    expect(() => checkChannel('syslog', { host: '127.0.0.1', port: 70000 }, {})).toThrow('port: 1-65535');
    expect(() => checkChannel('email', { host: '127.0.0.1', security: 'none', from: 'a@b.example', to: ['c@d.example'] }, {})).toThrow('security: starttls or tls (mail is never sent in the clear)');
    expect(() => checkChannel('email', { host: '127.0.0.1', from: 'a@b.example', to: [] }, {})).toThrow('to: 1 to 50 e-mail addresses');
    expect(() => checkChannel('email', { host: '127.0.0.1', from: 'a@b.example', to: ['c@d.example'] }, { password: 'p' })).toThrow('secrets.username: a password needs a user name');
    expect(checkChannel('email', { host: 'smtp.example', from: 'a@b.example', to: ['c@d.example'] }, {})).toEqual({ type: 'email', host: 'smtp.example', port: 587, security: 'starttls', from: 'a@b.example', to: ['c@d.example'] });
    expect(() => checkChannel('pagerduty', { url: 'https://events.example/v2/enqueue' }, {})).toThrow('secrets.routingKey: the integration\'s routing key is required');
    expect(() => checkChannel('splunk-hec', { url: 'https://hec.example/services/collector/event', index: 'Bad Index' }, { token: 't' })).toThrow('index: lower-case letters');
    expect(checkChannel('syslog', { host: '127.0.0.1', port: 5514 }, {})).toEqual({ type: 'syslog', host: '127.0.0.1', port: 5514, transport: 'udp', format: 'cef' });
  });
});
