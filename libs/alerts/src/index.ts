export { AlertRuleError, alertSeverity, compileAlertRule, retryDelayMs, ruleMatches, SEVERITIES, stormWindow } from './alert-rule';
export type { AlertableEvent, AlertRuleDefinition, CompiledAlertRule, Severity, SeverityMapping } from './alert-rule';
export { alertTitle, cefMessage, emailMessage, signWebhook, slackMessage, syslogMessage, teamsMessage } from './alert.formats';
export type { Alert } from './alert.formats';
export { CHANNEL_TYPES, ChannelError, checkChannel, deliver, pagerDutyEvent } from './channel.senders';
export type { ChannelSecrets, ChannelSettings, ChannelType } from './channel.senders';
