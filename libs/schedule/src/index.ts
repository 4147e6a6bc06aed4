export { firstRunAt, MIN_INTERVAL_MS, nextRunAfter, parseInterval, ScheduleSchema, validateSchedule } from './schedule.evaluator';
export type { Schedule } from './schedule.evaluator';
