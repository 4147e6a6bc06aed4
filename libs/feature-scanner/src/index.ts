export { ALL_SITES, ScanWorker } from './scan.worker';
export { ScannerModule } from './scanner.module';
export type { ScannerModuleOptions } from './scanner.module';
