import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { AlertingModule } from '@portolan/feature-alerting';
import { PlatformModule, PORTOLAN_VERSION, runMain, startWorkerService } from '@portolan/platform';

/** Alerting: recorded events matched to alert rules, delivered to their channels; run as many as the load needs. */
@Module({ imports: [PlatformModule.forRoot({ service: 'alerting', version: PORTOLAN_VERSION }), AlertingModule] })
class AlertingAppModule {}

runMain(() => startWorkerService(AlertingAppModule, 'alerting'));
