import { eventPort } from '@portolan/diff';

export interface EventView {
  id: string;
  kind: string;
  /** id null for events of the hub itself (an alert channel degraded). */
  device: { id: string | null; name: string | null };
  trackerId: string | null;
  jobId: string | null;
  host: string | null;
  itemType: string | null;
  itemKey: string | null;
  protocol: string | null;
  port: number | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  planned: boolean;
  plannedChangeId: string | null;
  details: Record<string, unknown> | null;
  observedAt: Date | null;
  occurredAt: Date;
}

export interface EventRow {
  id: string;
  kind: string;
  device_id: string | null;
  device_name: string | null;
  tracker_id: string | null;
  job_id: string | null;
  host: string | null;
  item_type: string | null;
  item_key: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  planned: boolean;
  planned_change_id: string | null;
  details: Record<string, unknown> | null;
  observed_at: Date | null;
  occurred_at: Date;
}

export const EVENT_COLUMNS = `e.id, e.kind, e.device_id, d.name AS device_name, e.tracker_id, e.job_id, e.host, e.item_type, e.item_key, e.before, e.after,
  e.planned, e.planned_change_id, e.details, e.observed_at, e.occurred_at`;

export function eventView(r: EventRow): EventView {
  return {
    id: r.id,
    kind: r.kind,
    device: { id: r.device_id, name: r.device_name },
    trackerId: r.tracker_id,
    jobId: r.job_id,
    host: r.host,
    itemType: r.item_type,
    itemKey: r.item_key,
    ...eventPort(r.item_type, r.before, r.after),
    before: r.before,
    after: r.after,
    planned: r.planned,
    plannedChangeId: r.planned_change_id,
    details: r.details,
    observedAt: r.observed_at ? new Date(r.observed_at) : null,
    occurredAt: new Date(r.occurred_at),
  };
}
