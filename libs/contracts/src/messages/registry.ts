import { AgentCredentialsChangedMessage } from './agent-credentials-changed/agent-credentials-changed.message';
import { CollectRequestedMessage } from './collect-requested/collect-requested.message';
import { AgentJobAvailableMessage } from './agent-job-available/agent-job-available.message';
import { EventRecordedMessage } from './event-recorded/event-recorded.message';
import { JobCancelledMessage } from './job-cancelled/job-cancelled.message';
import { MessageDefinition, PayloadOf, StreamName } from './message-definition';
import { OperatorTokenRevokedMessage } from './operator-token-revoked/operator-token-revoked.message';
import { PingMessage } from './ping/ping.message';
import { RunRequestedMessage } from './run-requested/run-requested.message';
import { ScanCompletedMessage } from './scan-completed/scan-completed.message';
import { ScanFailedMessage } from './scan-failed/scan-failed.message';
import { ScanProgressMessage } from './scan-progress/scan-progress.message';
import { ScanRequestedMessage, ScanRequestedV2Message } from './scan-requested/scan-requested.message';
import { WorkerPresenceMessage } from './worker-presence/worker-presence.message';

export const Messages = {
  runRequested: RunRequestedMessage,
  scanRequested: ScanRequestedMessage,
  /** Paced chunks (`maxRate`), for the workers that keep to it; see `ScanRequestedV2Message`. */
  scanRequestedV2: ScanRequestedV2Message,
  collectRequested: CollectRequestedMessage,
  scanCompleted: ScanCompletedMessage,
  scanFailed: ScanFailedMessage,
  scanProgress: ScanProgressMessage,
  eventRecorded: EventRecordedMessage,
  ping: PingMessage,
  agentJobAvailable: AgentJobAvailableMessage,
  agentCredentialsChanged: AgentCredentialsChangedMessage,
  operatorTokenRevoked: OperatorTokenRevokedMessage,
  workerPresence: WorkerPresenceMessage,
  jobCancelled: JobCancelledMessage,
} as const;

type AllMessages = (typeof Messages)[keyof typeof Messages];

/** Typed subject → payload map: `SubjectPayloads['portolan.job.run.requested.v1']` is `RunRequested`. */
export type SubjectPayloads = { [M in AllMessages as M['subject']]: PayloadOf<M> };

export interface StreamDefinition {
  readonly name: StreamName;
  readonly subjects: readonly string[];
  /** `workqueue`: a message is gone once acked; `limits`: kept for replay until max age. */
  readonly retention: 'workqueue' | 'limits';
  readonly maxAgeSeconds: number;
}

/** JetStream streams. A stream name is never renamed in place; a breaking change adds a new one. */
export const Streams: readonly StreamDefinition[] = [
  { name: 'PORTOLAN_JOBS_V1', subjects: ['portolan.job.>'], retention: 'workqueue', maxAgeSeconds: 7 * 86400 },
  { name: 'PORTOLAN_RESULTS_V1', subjects: ['portolan.result.>'], retention: 'limits', maxAgeSeconds: 7 * 86400 },
  { name: 'PORTOLAN_EVENTS_V1', subjects: ['portolan.event.>'], retention: 'limits', maxAgeSeconds: 30 * 86400 },
];

export function streamOf(definition: MessageDefinition<string, unknown, unknown>): StreamDefinition {
  const stream = Streams.find((s) => s.name === definition.stream);
  if (!stream) throw new Error(`message ${definition.subject} is not durable`);
  return stream;
}
