import { SchedulerConfig } from '@portolan/config';

export const SCHEDULER_CONFIG = Symbol('portolan.scheduler-config');
export type { SchedulerConfig };
