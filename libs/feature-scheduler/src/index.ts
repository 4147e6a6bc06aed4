export { RunPlanner } from './run.planner';
export { SchedulerLoop } from './scheduler.loop';
export { SchedulerModule } from './scheduler.module';
