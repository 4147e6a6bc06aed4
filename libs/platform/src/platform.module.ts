import { DynamicModule, Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, InProcessBus, JetStreamBus } from '@portolan/bus';
import { loadPlatformConfig, PlatformConfig } from '@portolan/config';
import { createLogger, Logger, redactUrl } from '@portolan/logging';
import { createDataSource, migrate } from '@portolan/persistence';
import { ScopeGuard } from '@portolan/targets';
import { loadKeyRing, SecretBox } from '@portolan/vault';
import { CredentialVault } from './credential.vault';
import { PlannedChangeStore } from './planned-change.store';
import { AlertChannelStore } from './alert-channel.store';
import { HostKeyStore } from './host-key.store';
import { BUS, DATA_SOURCE, LOGGER, PLATFORM_CONFIG, SCOPE_GUARD, SECRET_BOX, SERVICE_INFO, ServiceInfo } from './tokens';

export interface PlatformOptions {
  /** Service name in logs and as the bus producer, e.g. `gateway` or `hub`. */
  readonly service: string;
  readonly version: string;
  /** Overrides for tests; the environment otherwise. */
  readonly config?: PlatformConfig;
}

/**
 * The shared infrastructure of every service: typed config, pino logger, the DataSource
 * (Postgres when DATABASE_URL is set, else PGlite, migrated at start), the bus (JetStream when
 * NATS_URL is set, else in-process) and the scope guard. Global, so features just inject.
 */
@Global()
@Module({})
export class PlatformModule implements OnApplicationShutdown {
  constructor(
    @Inject(BUS) private readonly bus: Bus,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  static forRoot(options: PlatformOptions): DynamicModule {
    const providers = [
      { provide: PLATFORM_CONFIG, useFactory: () => options.config ?? loadPlatformConfig() },
      { provide: SERVICE_INFO, useValue: { name: options.service, version: options.version, startedAt: new Date() } satisfies ServiceInfo },
      {
        provide: LOGGER,
        inject: [PLATFORM_CONFIG],
        useFactory: (config: PlatformConfig) => createLogger({ service: options.service, version: options.version, level: config.logLevel, instance: config.instance }),
      },
      {
        provide: DATA_SOURCE,
        inject: [PLATFORM_CONFIG, LOGGER],
        useFactory: async (config: PlatformConfig, logger: Logger) => {
          const dataSource = createDataSource({ url: config.databaseUrl, dataDir: `${config.dataDir}/db` });
          await dataSource.initialize();
          const applied = await migrate(dataSource);
          logger.info({ database: config.databaseUrl ? redactUrl(config.databaseUrl) : `pglite:${config.dataDir}/db`, migrationsApplied: applied }, 'database ready');
          return dataSource;
        },
      },
      {
        provide: BUS,
        inject: [PLATFORM_CONFIG, LOGGER],
        useFactory: async (config: PlatformConfig, logger: Logger) => {
          const busLogger = logger.child({ component: 'bus' });
          const bus: Bus = config.natsUrl
            ? await JetStreamBus.connect({ servers: config.natsUrl, name: `${options.service}:${config.instance}`, logger: busLogger })
            : new InProcessBus(options.service, busLogger);
          await bus.start();
          logger.info({ bus: bus.kind, nats: config.natsUrl?.split(',').map((url) => redactUrl(url.trim())) }, 'bus ready');
          return bus;
        },
      },
      {
        provide: SECRET_BOX,
        inject: [PLATFORM_CONFIG, LOGGER],
        useFactory: (config: PlatformConfig, logger: Logger) => {
          const ring = loadKeyRing({ keys: config.masterKeys, file: config.masterKeyFile, dataDir: config.dataDir });
          const fields = { source: ring.source, file: ring.file, keyIds: ring.keys.map((k) => k.id) };
          if (ring.source === 'generated' || ring.source === 'data-dir') {
            logger.warn(fields, 'credentials are sealed with a master key kept in the data directory; in production give the hub its own (PORTOLAN_MASTER_KEY_FILE)');
          } else if (ring.source === 'ephemeral') {
            logger.warn(fields, 'in-memory database: credentials are sealed with a key that lives only as long as this process');
          } else logger.info(fields, 'master keys loaded');
          return new SecretBox(ring.keys);
        },
      },
      CredentialVault,
      HostKeyStore,
      PlannedChangeStore,
      AlertChannelStore,
      {
        provide: SCOPE_GUARD,
        inject: [PLATFORM_CONFIG],
        useFactory: (config: PlatformConfig) => new ScopeGuard({ allow: cidrs(config.scopeAllow), exclude: cidrs(config.scopeExclude) }),
      },
    ];
    return { module: PlatformModule, providers, exports: providers.map((p) => ('provide' in p ? p.provide : p)) };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close().catch((error) => this.logger.warn({ err: String(error) }, 'bus close failed'));
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

function cidrs(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}
