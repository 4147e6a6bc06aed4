import type { LatencySummary } from './latency.recorder';

/** Messages between run.ts and the load generator process (load.worker.ts) over the fork IPC channel. */

export interface AgentIdentity {
  readonly id: string;
  readonly secret: string;
}

export interface UploadIdentity extends AgentIdentity {
  readonly trackerId: string;
}

export interface Target {
  readonly label: string;
  readonly port: number;
}

export type LoadCommand =
  | { readonly kind: 'init'; readonly ca: string; readonly agents: readonly AgentIdentity[]; readonly uploaders: readonly UploadIdentity[]; readonly maxSockets: number }
  /** Open loop: every agent polls once per `periodSeconds` (wait=0), at a random phase with a little jitter. */
  | { readonly kind: 'poll'; readonly id: number; readonly target: Target; readonly agents: number; readonly periodSeconds: number; readonly durationSeconds: number }
  /**
   * Closed loop: `concurrency` uploaders, each sending the next upload as soon as the last is
   * answered. With `withStart`, each upload is a whole run as the agent sends it: the scan-start
   * report (`POST /api/agent/scans`), then the result of that job; counted and timed as one.
   * The first `prepare` uploads are built before the phase starts, the rest as they are sent.
   */
  | { readonly kind: 'upload'; readonly id: number; readonly target: Target; readonly concurrency: number; readonly durationSeconds: number; readonly maxRequests: number; readonly prepare: number; readonly ports: number; readonly withStart?: boolean }
  /**
   * Open loop: uploads arrive as a Poisson process at `ratePerSecond` (a fleet's scans ending
   * when they end, not when the hub has answered the last one), each from the next uploader,
   * over a keep-alive pool of at most `maxSockets` connections.
   */
  | { readonly kind: 'upload-rate'; readonly id: number; readonly target: Target; readonly ratePerSecond: number; readonly durationSeconds: number; readonly ports: number }
  /** `agents` long-polls (wait=`waitSeconds`), one connection each, started over `rampSeconds`, re-polling at once when answered. */
  | { readonly kind: 'held'; readonly id: number; readonly target: Target; readonly agents: number; readonly waitSeconds: number; readonly rampSeconds: number; readonly durationSeconds: number }
  | { readonly kind: 'exit' };

export interface PhaseResult {
  readonly requests: number;
  readonly ok: number;
  readonly outcomes: Record<string, number>;
  readonly elapsedSeconds: number;
  /** Answered OK per second over the phase. */
  readonly okPerSecond: number;
  readonly latencyMs: LatencySummary;
  /** TLS connections the client opened in the phase. */
  readonly socketsOpened: number;
  /** Open loop only: how late the generator sent requests against their schedule. */
  readonly sendLagMs?: { readonly p99: number; readonly max: number };
  /** Held long-polls only: the steady window after the ramp. */
  readonly steady?: { readonly seconds: number; readonly answered: number; readonly answeredPerSecond: number; readonly heldMin: number; readonly heldMax: number };
  /** Requests still unanswered when the phase's drain time ran out (counted as failures). */
  readonly unanswered: number;
  /** Uploads built while the phase ran (past the prepared ones), taking the generator's CPU from the servers. */
  readonly builtDuring?: number;
  /** Bytes of one upload body as sent (gzip) and inflated. */
  readonly uploadBytes?: { readonly gzip: number; readonly json: number };
}

export type LoadReply =
  | { readonly id: number; readonly kind: 'done'; readonly result: PhaseResult }
  | { readonly id: number; readonly kind: 'failed'; readonly error: string }
  /**
   * Held phase: the ramp is over (start of the steady window) / the steady window ended. Upload
   * phases: the uploads are prepared and the first is being sent / the last was answered.
   */
  | { readonly id: number; readonly kind: 'steady-start' | 'steady-end' }
  | { readonly id: -1; readonly kind: 'ready' };

/** What the simulated agents say of their program, as the agent of this tree does: its version and features (so the hub keeps them as it would). */
export const BENCH_AGENT = { version: '0.2.0', features: ['scan-pace'] };
