import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts/errors';

/**
 * When a tracker runs. `once` runs at `at` (or as soon as it is created); `interval` runs now and
 * then every `every` (e.g. `30s`, `15m`, `6h`, `1d`, or seconds as a number); `cron` follows a
 * 5-field cron expression in UTC; `at-agent-startup` runs each time the agent that owns the
 * tracker starts, and does not repeat (for long network scans from a scanning agent).
 */
export const ScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('at-agent-startup') }),
  z.object({ kind: z.literal('once'), at: z.iso.datetime({ offset: true }).optional() }),
  z.object({ kind: z.literal('interval'), every: z.union([z.string(), z.number()]) }),
  z.object({ kind: z.literal('cron'), cron: z.string().min(1).max(128) }),
]);
export type Schedule = z.infer<typeof ScheduleSchema>;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const MIN_INTERVAL_MS = 10_000;

export function parseInterval(every: string | number): number {
  const text = String(every).trim();
  const match = /^(\d+)\s*([smhd]?)$/.exec(text);
  if (!match) throw new DomainError('invalid_payload', `schedule.every "${text}" is not an interval like 30s, 15m, 6h or 1d`, { field: 'schedule.every' });
  const ms = Number(match[1]) * UNIT_MS[match[2] || 's'];
  if (ms < MIN_INTERVAL_MS) throw new DomainError('invalid_payload', `schedule.every "${text}" is shorter than the minimum of 10s`, { field: 'schedule.every' });
  return ms;
}

export function validateSchedule(schedule: Schedule): void {
  if (schedule.kind === 'interval') parseInterval(schedule.every);
  if (schedule.kind === 'cron') cronNext(schedule.cron, new Date());
}

/** The first run of a newly created tracker; null when only an agent's start runs it. */
export function firstRunAt(schedule: Schedule, now: Date): Date | null {
  if (schedule.kind === 'at-agent-startup') return null;
  if (schedule.kind === 'once') return schedule.at ? new Date(schedule.at) : now;
  if (schedule.kind === 'interval') return now;
  return cronNext(schedule.cron, now);
}

/** The run after one that was due at `due`; null when the schedule does not repeat. */
export function nextRunAfter(schedule: Schedule, due: Date, now: Date): Date | null {
  if (schedule.kind === 'once' || schedule.kind === 'at-agent-startup') return null;
  if (schedule.kind === 'cron') return cronNext(schedule.cron, now);
  const every = parseInterval(schedule.every);
  // Skip the runs missed while the scheduler was down instead of firing them all at once.
  const missed = Math.max(1, Math.ceil((now.getTime() - due.getTime()) / every));
  return new Date(due.getTime() + missed * every);
}

function cronNext(expression: string, from: Date): Date {
  if (expression.trim().split(/\s+/).length !== 5) {
    throw new DomainError('invalid_payload', `schedule.cron "${expression}" must have 5 fields (minute hour day month weekday)`, { field: 'schedule.cron' });
  }
  try {
    return CronExpressionParser.parse(expression, { currentDate: from, tz: 'UTC' }).next().toDate();
  } catch (error) {
    throw new DomainError('invalid_payload', `schedule.cron "${expression}" is not a valid cron expression: ${(error as Error).message}`, { field: 'schedule.cron' });
  }
}
