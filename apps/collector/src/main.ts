import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { CollectorModule } from '@portolan/feature-collector';
import { PlatformModule, PORTOLAN_VERSION, runMain, startWorkerService } from '@portolan/platform';

/** One agentless collector of the site in COLLECTOR_SITE (SSH, Telnet, SMB); run as many as the site needs. */
@Module({ imports: [PlatformModule.forRoot({ service: 'collector', version: PORTOLAN_VERSION }), CollectorModule.forRoot()] })
class CollectorAppModule {}

runMain(() => startWorkerService(CollectorAppModule, 'collector'));
