export { DomainError, isDomainError } from './errors/domain-error';
export type { DomainErrorCode } from './errors/domain-error';

export {
  ALL_SITES_NAME,
  ErrorInfoSchema,
  HostObservationSchema,
  IsoDateSchema,
  ItemObservationSchema,
  ItemTypeSchema,
  PortObservationSchema,
  PortRangeSchema,
  PortSetSchema,
  PortStateSchema,
  ProtocolSchema,
  ScanRateSchema,
  SiteNameSchema,
  UuidSchema,
} from './common/primitives.schema';
export type { ErrorInfo, HostObservation, ItemObservation, PortObservation, PortRange, PortSet, Protocol } from './common/primitives.schema';

export { createEnvelope, EnvelopeHeaderSchema } from './envelope/envelope';
export type { Envelope } from './envelope/envelope';

export { defineMessage, filterFor, subjectFor } from './messages/message-definition';
export type { MessageDefinition, PayloadOf, ReplyOf, StreamName, Transport } from './messages/message-definition';
export { Messages, Streams, streamOf } from './messages/registry';
export type { StreamDefinition, SubjectPayloads } from './messages/registry';

export { EventKindSchema, EventRecordedSchema } from './messages/event-recorded/event-recorded.message';
export type { EventKind, EventRecorded } from './messages/event-recorded/event-recorded.message';
export type { Ping, Pong } from './messages/ping/ping.message';
export type { RunRequested } from './messages/run-requested/run-requested.message';
export type { ScanCompleted } from './messages/scan-completed/scan-completed.message';
export type { ScanFailed } from './messages/scan-failed/scan-failed.message';
export type { ScanProgress } from './messages/scan-progress/scan-progress.message';
export { scanRequestedFor, ScanRequestedSchema } from './messages/scan-requested/scan-requested.message';
export { CollectProtocolSchema, CollectRequestedSchema } from './messages/collect-requested/collect-requested.message';
export type { CollectProtocol, CollectRequested } from './messages/collect-requested/collect-requested.message';
export type { ScanRequested } from './messages/scan-requested/scan-requested.message';
export type { AgentJobAvailable } from './messages/agent-job-available/agent-job-available.message';
export type { AgentCredentialsChanged } from './messages/agent-credentials-changed/agent-credentials-changed.message';
export type { OperatorTokenRevoked } from './messages/operator-token-revoked/operator-token-revoked.message';
export type { JobCancelled } from './messages/job-cancelled/job-cancelled.message';
export { WorkerFeatures, WorkerPresenceSchema } from './messages/worker-presence/worker-presence.message';
export type { WorkerPresence } from './messages/worker-presence/worker-presence.message';

export {
  AGENT_API_PREFIX,
  AGENT_AUTH_SCHEME,
  AGENT_BOOT_HEADER,
  AGENT_CLOCK_HEADER,
  AGENT_MAX_WAIT_SECONDS,
  AgentConfigSchema,
  AgentFeatures,
  MAX_AGENT_FEATURES,
  AgentHostReportSchema,
  CertificateFingerprintSchema,
  MAX_HUB_PINS,
  AgentJobSchema,
  AgentPollQuerySchema,
  AgentPollResponseSchema,
  AgentResultResponseSchema,
  AgentResultSchema,
  AgentScanStartedSchema,
  AgentScanProgressSchema,
  AgentScanProgressResponseSchema,
  AgentScheduleSchema,
  AgentTrackerSchema,
  EnrolRequestSchema,
  EnrolResponseSchema,
  ReenrolRequestSchema,
  RotateSecretResponseSchema,
} from './agent-api/agent-api.schema';
export { AGENT_RESULT_KEYS, isExactAgentResult } from './agent-api/agent-result.check';
export type {
  AgentConfig,
  AgentHostReport,
  AgentJob,
  AgentPollQuery,
  AgentPollResponse,
  AgentResult,
  AgentResultResponse,
  AgentScanStarted,
  AgentScanProgress,
  AgentScanProgressResponse,
  AgentTracker,
  EnrolRequest,
  EnrolResponse,
  ReenrolRequest,
  RotateSecretResponse,
} from './agent-api/agent-api.schema';
export { ScanCompletedSchema, ScanEngineSchema } from './messages/scan-completed/scan-completed.message';
export { ScanFailedSchema } from './messages/scan-failed/scan-failed.message';
