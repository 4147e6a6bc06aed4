import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { types } from '@electric-sql/pglite';
import { DataSource } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import { ExclusivePGlitePool } from './pglite-exclusive.pool';
import { BaselineEntity } from './entities/baseline.entity';
import { CredentialEntity } from './entities/credential.entity';
import { CurrentItemEntity } from './entities/current-item.entity';
import { DeviceEntity } from './entities/device.entity';
import { EventEntity } from './entities/event.entity';
import { InboxEntity } from './entities/inbox.entity';
import { LeaderLeaseEntity } from './entities/leader-lease.entity';
import { ScanChunkEntity } from './entities/scan-chunk.entity';
import { ScanJobEntity } from './entities/scan-job.entity';
import { SiteEntity } from './entities/site.entity';
import { TrackerEntity } from './entities/tracker.entity';
import { AgentEntity } from './entities/agent.entity';
import { AgentUploadEntity } from './entities/agent-upload.entity';
import { DeviceGroupEntity, DeviceGroupMemberEntity } from './entities/device-group.entity';
import { EnrollmentTokenEntity } from './entities/enrollment-token.entity';
import { Agents1764100000000 } from './migrations/1764100000000-agents.migration';
import { InitialSchema1763800000000 } from './migrations/1763800000000-initial-schema.migration';
import { ChunkResultParts1763900000000 } from './migrations/1763900000000-chunk-result-parts.migration';
import { DispatchOutbox1764000000000 } from './migrations/1764000000000-dispatch-outbox.migration';
import { AgentIngest1764200000000 } from './migrations/1764200000000-agent-ingest.migration';
import { Collectors1764300000000 } from './migrations/1764300000000-collectors.migration';
import { DeviceHostKeyEntity } from './entities/device-host-key.entity';
import { PlannedChangeEntity, PlannedChangeProposalEntity } from './entities/planned-change.entity';
import { AuditEntryEntity } from './entities/audit-entry.entity';
import { HubCertificateEntity } from './entities/hub-certificate.entity';
import { OperatorTokenEntity } from './entities/operator-token.entity';
import { PlannedChanges1764400000000 } from './migrations/1764400000000-planned-changes.migration';
import { NoiseControl1764500000000 } from './migrations/1764500000000-noise-control.migration';
import { EventPartitions1764600000000 } from './migrations/1764600000000-event-partitions.migration';
import { ChunkJobIndex1764700000000 } from './migrations/1764700000000-chunk-job-index.migration';
import { EventCounts1764800000000 } from './migrations/1764800000000-event-counts.migration';
import { Alerting1764900000000 } from './migrations/1764900000000-alerting.migration';
import { HubEvents1765000000000 } from './migrations/1765000000000-hub-events.migration';
import { AlertRuleSeverity1765100000000 } from './migrations/1765100000000-alert-rule-severity.migration';
import { Reprobe1765200000000 } from './migrations/1765200000000-reprobe.migration';
import { EventIdIndex1765300000000 } from './migrations/1765300000000-event-id-index.migration';
import { AlertDeliveryCancelled1765400000000 } from './migrations/1765400000000-alert-delivery-cancelled.migration';
import { AgentUploadBody1765500000000 } from './migrations/1765500000000-agent-upload-body.migration';
import { UnchangedCheck1765600000000 } from './migrations/1765600000000-unchanged-check.migration';
import { RedundantIndexes1765700000000 } from './migrations/1765700000000-redundant-indexes.migration';
import { HubCertificates1765800000000 } from './migrations/1765800000000-hub-certificates.migration';
import { AgentAppliedConfig1765900000000 } from './migrations/1765900000000-agent-applied-config.migration';
import { OperatorTokens1766000000000 } from './migrations/1766000000000-operator-tokens.migration';
import { AgentClock1766100000000 } from './migrations/1766100000000-agent-clock.migration';
import { AgentBoots1766200000000 } from './migrations/1766200000000-agent-boots.migration';
import { AgentClones1766300000000 } from './migrations/1766300000000-agent-clones.migration';
import { AgentRunClaims1766400000000 } from './migrations/1766400000000-agent-run-claims.migration';
import { AgentRunProgress1766500000000 } from './migrations/1766500000000-agent-run-progress.migration';
import { TrackerScanRate1766600000000 } from './migrations/1766600000000-tracker-scan-rate.migration';
import { AgentConfigIncomplete1766700000000 } from './migrations/1766700000000-agent-config-incomplete.migration';
import { AgentFeatures1766800000000 } from './migrations/1766800000000-agent-features.migration';
import { ChunkTimedOut1766900000000 } from './migrations/1766900000000-chunk-timed-out.migration';
import { PacedChunksInTurn1767000000000 } from './migrations/1767000000000-paced-chunks-in-turn.migration';
import { WorkerPresence1767100000000 } from './migrations/1767100000000-worker-presence.migration';
import { WorkerProcesses1767200000000 } from './migrations/1767200000000-worker-processes.migration';
import { ScanJobsByRequest1767300000000 } from './migrations/1767300000000-scan-jobs-by-request.migration';
import { ScanJobsCancelled1767400000000 } from './migrations/1767400000000-scan-jobs-cancelled.migration';
import { WorkerEntity } from './entities/worker.entity';

export const ENTITIES = [
  SiteEntity,
  CredentialEntity,
  DeviceEntity,
  TrackerEntity,
  ScanJobEntity,
  ScanChunkEntity,
  BaselineEntity,
  CurrentItemEntity,
  EventEntity,
  InboxEntity,
  LeaderLeaseEntity,
  AgentEntity,
  AgentUploadEntity,
  DeviceGroupEntity,
  DeviceGroupMemberEntity,
  EnrollmentTokenEntity,
  DeviceHostKeyEntity,
  PlannedChangeEntity,
  PlannedChangeProposalEntity,
  AuditEntryEntity,
  HubCertificateEntity,
  OperatorTokenEntity,
  WorkerEntity,
];
export const MIGRATIONS = [InitialSchema1763800000000, ChunkResultParts1763900000000, DispatchOutbox1764000000000, Agents1764100000000, AgentIngest1764200000000, Collectors1764300000000, PlannedChanges1764400000000, NoiseControl1764500000000, EventPartitions1764600000000, ChunkJobIndex1764700000000, EventCounts1764800000000, Alerting1764900000000, HubEvents1765000000000, AlertRuleSeverity1765100000000, Reprobe1765200000000, EventIdIndex1765300000000, AlertDeliveryCancelled1765400000000, AgentUploadBody1765500000000, UnchangedCheck1765600000000, RedundantIndexes1765700000000, HubCertificates1765800000000, AgentAppliedConfig1765900000000, OperatorTokens1766000000000, AgentClock1766100000000, AgentBoots1766200000000, AgentClones1766300000000, AgentRunClaims1766400000000, AgentRunProgress1766500000000, TrackerScanRate1766600000000, AgentConfigIncomplete1766700000000, AgentFeatures1766800000000, ChunkTimedOut1766900000000, PacedChunksInTurn1767000000000, WorkerPresence1767100000000, WorkerProcesses1767200000000, ScanJobsByRequest1767300000000, ScanJobsCancelled1767400000000];
export const MIGRATIONS_TABLE = 'portolan_migrations';

export interface DatabaseOptions {
  /** `postgres://...`: real Postgres. Absent: embedded PGlite in `dataDir`. */
  readonly url?: string;
  readonly dataDir: string;
  readonly poolSize?: number;
  readonly logging?: boolean;
}

/**
 * The one DataSource definition of Portolan, shared by every app and the migration CLI.
 * Postgres when a URL is given, otherwise PGlite (one process per data directory: PGlite has
 * no locking, so two processes on one directory would lose rows).
 */
export function createDataSource(options: DatabaseOptions): DataSource {
  const common = {
    type: 'postgres' as const,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    migrationsRun: false,
    logging: options.logging ?? false,
  };
  if (options.url) {
    // Named statements (`queryPrepared`, the only ones: TypeORM's are unnamed) keep their generic
    // plan: for a batch of one, Postgres would otherwise plan every run again (a custom plan
    // estimates cheaper), and planning the agent ingests' statements cost more than running
    // them: 2.2 → 1.25 ms of the backend's CPU for an upload written alone, no change at ten.
    // How those plans are kept from depending on the tables' sizes: `queryPrepared`.
    const extra = { max: options.poolSize ?? 10, options: '-c plan_cache_mode=force_generic_plan' };
    return new DataSource({ ...common, url: options.url, extra, applicationName: 'portolan' });
  }
  const dataDir = options.dataDir.startsWith('memory://') ? options.dataDir : resolve(options.dataDir);
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  // The driver's constructor configures the one PGlite instance; its pool is replaced by one
  // that lends the single session to one holder at a time (see ExclusivePGlitePool).
  new PGliteDriver({
    dataDir,
    // node-postgres returns INT8 as text; so must PGlite, or counts differ in type by backend.
    parsers: { [types.INT8]: (value: string) => value },
  });
  const driver = { Pool: ExclusivePGlitePool };
  return new DataSource({ ...common, driver, installExtensions: false, uuidExtension: 'pgcrypto', extra: { max: 1 } });
}

/**
 * Runs pending migrations under an advisory lock, so replicas starting together do not race.
 * PGlite serves one process and one session, so there is nobody to race and no second session
 * to take the lock from.
 */
export async function migrate(dataSource: DataSource): Promise<string[]> {
  if (isEmbedded(dataSource)) return (await dataSource.runMigrations({ transaction: 'each' })).map((m) => m.name);
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock(7243101)');
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock(7243101)');
    }
  } finally {
    await runner.release();
  }
}

/** Whether the data source is the embedded PGlite (all-in-one), not a Postgres server. */
export function isEmbedded(dataSource: DataSource): boolean {
  return (dataSource.options as { driver?: { Pool?: unknown } }).driver?.Pool === ExclusivePGlitePool;
}
