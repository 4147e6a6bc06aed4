import { Module } from '@nestjs/common';
import { loadScannerConfig } from '@portolan/config';
import { SCANNER_CONFIG, ScanWorker } from './scan.worker';

export interface ScannerModuleOptions {
  /** Site override; `*` serves every site (all-in-one). */
  readonly site?: string;
  /** Engine override (tests); SCANNER_ENGINE otherwise. */
  readonly engine?: 'auto' | 'nmap' | 'connect';
}

/** A scanner worker of one site. */
@Module({})
export class ScannerModule {
  static forRoot(options: ScannerModuleOptions = {}) {
    return {
      module: ScannerModule,
      providers: [{ provide: SCANNER_CONFIG, useFactory: () => ({ ...loadScannerConfig(), ...(options.site ? { site: options.site } : {}), ...(options.engine ? { engine: options.engine } : {}) }) }, ScanWorker],
      exports: [ScanWorker],
    };
  }
}
