import { Module } from '@nestjs/common';
import { loadCollectorConfig } from '@portolan/config';
import { COLLECTOR_CONFIG, CollectWorker } from './collect.worker';

export interface CollectorModuleOptions {
  /** Site override; `*` serves every site (all-in-one). */
  readonly site?: string;
}

/** An agentless collector of one site. */
@Module({})
export class CollectorModule {
  static forRoot(options: CollectorModuleOptions = {}) {
    return {
      module: CollectorModule,
      providers: [{ provide: COLLECTOR_CONFIG, useFactory: () => ({ ...loadCollectorConfig(), ...(options.site ? { site: options.site } : {}) }) }, CollectWorker],
      exports: [CollectWorker],
    };
  }
}
