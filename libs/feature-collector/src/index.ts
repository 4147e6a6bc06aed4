export { ALL_SITES, CollectWorker } from './collect.worker';
export { CollectorModule } from './collector.module';
export type { CollectorModuleOptions } from './collector.module';
