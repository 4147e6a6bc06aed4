export { EventRecorder } from './event.recorder';
export type { NewEvent } from './event.recorder';
export { PlatformModule } from './platform.module';
export type { PlatformOptions } from './platform.module';
export { ScanJobLedger } from './scan-job.ledger';
export type { ChunkOutcome } from './scan-job.ledger';
export { BUS, DATA_SOURCE, LOGGER, PLATFORM_CONFIG, SCOPE_GUARD, SERVICE_INFO } from './tokens';
export type { ServiceInfo } from './tokens';
export { claimMessage } from './inbox';
