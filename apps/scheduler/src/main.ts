import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { SchedulerModule } from '@portolan/feature-scheduler';
import { PlatformModule, PORTOLAN_VERSION, runMain, startWorkerService } from '@portolan/platform';

@Module({ imports: [PlatformModule.forRoot({ service: 'scheduler', version: PORTOLAN_VERSION }), SchedulerModule] })
class SchedulerAppModule {}

runMain(() => startWorkerService(SchedulerAppModule, 'scheduler'));
