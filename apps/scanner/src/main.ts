import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { ScannerModule } from '@portolan/feature-scanner';
import { PlatformModule, PORTOLAN_VERSION, runMain, startWorkerService } from '@portolan/platform';

/** One scanner worker of the site in SCANNER_SITE; run as many as the site needs. */
@Module({ imports: [PlatformModule.forRoot({ service: 'scanner', version: PORTOLAN_VERSION }), ScannerModule.forRoot()] })
class ScannerAppModule {}

runMain(() => startWorkerService(ScannerAppModule, 'scanner'));
