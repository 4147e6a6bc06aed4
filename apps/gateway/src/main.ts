import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { GatewayModule, startHttpService } from '@portolan/feature-gateway';
import { PlatformModule, PORTOLAN_VERSION, runMain } from '@portolan/platform';

@Module({ imports: [PlatformModule.forRoot({ service: 'gateway', version: PORTOLAN_VERSION }), GatewayModule] })
class GatewayAppModule {}

runMain(() => startHttpService(GatewayAppModule, { service: 'gateway', version: PORTOLAN_VERSION }));
