import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { ComparerModule } from '@portolan/feature-comparer';
import { PlatformModule, PORTOLAN_VERSION, runMain, startWorkerService } from '@portolan/platform';

@Module({ imports: [PlatformModule.forRoot({ service: 'comparer', version: PORTOLAN_VERSION }), ComparerModule] })
class ComparerAppModule {}

runMain(() => startWorkerService(ComparerAppModule, 'comparer'));
