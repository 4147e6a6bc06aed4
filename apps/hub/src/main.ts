import 'reflect-metadata';
import { startHttpService } from '@portolan/feature-gateway';
import { PORTOLAN_VERSION, runMain } from '@portolan/platform';
import { HubModule } from './hub.module';

runMain(() => startHttpService(HubModule, { service: 'hub', version: PORTOLAN_VERSION }));
