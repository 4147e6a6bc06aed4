/**
 * The statement that queues the resolve of incident triggers (PagerDuty): one pending delivery
 * per trigger, to its channel, keyed by the trigger's dedupe key + ":resolve" (so queued once),
 * whose alert `resolves` the trigger's alert id. `triggers` is a SQL row source aliased `t` with
 * the columns dedupe_key, event_id, rule_id, channel_id and alert; resolves in it are skipped.
 */
export function queueResolvesSql(triggers: string): string {
  return `INSERT INTO alert_deliveries (id, dedupe_key, event_id, rule_id, channel_id, alert, status, attempts, next_attempt_at, created_at, event_occurred_at)
     SELECT gen_random_uuid(), t.dedupe_key || ':resolve', t.event_id, t.rule_id, t.channel_id, t.alert || jsonb_build_object('resolves', t.alert->>'id'), 'pending', 0, now(), now(), now()
       FROM ${triggers}
      WHERE NOT (t.alert ? 'resolves')
     ON CONFLICT (dedupe_key) DO NOTHING`;
}
