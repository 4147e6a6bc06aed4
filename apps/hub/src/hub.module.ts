import { Module } from '@nestjs/common';
import { AlertingModule } from '@portolan/feature-alerting';
import { CollectorModule } from '@portolan/feature-collector';
import { ComparerModule } from '@portolan/feature-comparer';
import { GatewayModule } from '@portolan/feature-gateway';
import { ALL_SITES, ScannerModule } from '@portolan/feature-scanner';
import { SchedulerModule } from '@portolan/feature-scheduler';
import { PlatformModule, PORTOLAN_VERSION } from '@portolan/platform';

/**
 * All-in-one: every service in one process over one DataSource and one bus (PGlite and the
 * in-process bus unless DATABASE_URL / NATS_URL say otherwise). Its scanner and its collector serve every site.
 */
@Module({
  imports: [
    PlatformModule.forRoot({ service: 'hub', version: PORTOLAN_VERSION }),
    GatewayModule,
    SchedulerModule,
    ScannerModule.forRoot({ site: process.env['SCANNER_SITE'] ?? ALL_SITES }),
    CollectorModule.forRoot({ site: process.env['COLLECTOR_SITE'] ?? ALL_SITES }),
    ComparerModule,
    AlertingModule,
  ],
})
export class HubModule {}
