import { z } from 'zod';
import { AgentResult, PortSetSchema, ScanCompleted, ScanFailed, UuidSchema } from '@portolan/contracts';

/**
 * What the hub decided when it accepted an agent's result upload. With the upload as the agent
 * sent it, it is the result message: the gateway keeps the two (`agent_uploads.body_gzip`,
 * `acceptance`) rather than a second, hub-made copy of the observations, so the store holds
 * exactly what the agent reported and the gateway compresses nothing.
 */
export const ResultAcceptanceSchema = z
  .object({
    chunkId: UuidSchema,
    deviceId: UuidSchema,
    /** `agent:<name>`. */
    worker: z.string().min(1).max(128),
    /** What the result covers: the agent's coverage within the tracker's ports at acceptance. */
    coverage: PortSetSchema,
    /** Self-scans: the one host observed is the agent's device, under the device's address. */
    selfAddress: z.string().min(1).max(255).optional(),
    /**
     * Milliseconds taken off the run's times, which the agent reported on its own clock, to put
     * them on the hub's (its clock was that far ahead; negative: behind). Absent: none.
     */
    clockCorrectionMs: z.number().int().optional(),
  })
  .strict();
export type ResultAcceptance = z.infer<typeof ResultAcceptanceSchema>;

export type ResultMessage = { readonly kind: 'completed'; readonly payload: ScanCompleted } | { readonly kind: 'failed'; readonly payload: ScanFailed };

/** The result message of an accepted upload (the gateway's at acceptance, the store's when published again). */
export function agentResultMessage(result: AgentResult, acceptance: ResultAcceptance): ResultMessage {
  const { chunkId, deviceId, worker, coverage, selfAddress, clockCorrectionMs = 0 } = acceptance;
  const startedAt = onHubClock(result.startedAt, clockCorrectionMs);
  const finishedAt = onHubClock(result.finishedAt, clockCorrectionMs);
  // The run's fields written out in each literal, not spread from one object: V8 adds the
  // properties that follow a spread one by one, ~6 us a message (measured, Node 20), where a
  // literal costs 0.2.
  if (result.status === 'failed') {
    if (!result.error) throw new Error(`failed result of job ${result.jobId} carries no error`);
    return { kind: 'failed', payload: { jobId: result.jobId, chunkId, trackerId: result.trackerId, deviceId, worker, startedAt, failedAt: finishedAt, error: result.error } };
  }
  return {
    kind: 'completed',
    payload: {
      jobId: result.jobId,
      chunkId,
      trackerId: result.trackerId,
      deviceId,
      worker,
      engine: result.engine,
      engineVersion: result.engineVersion,
      args: result.args,
      startedAt,
      finishedAt,
      durationMs: Date.parse(result.finishedAt) - Date.parse(result.startedAt),
      coverage: { ports: coverage },
      hosts: selfAddress === undefined ? result.hosts : selfHosts(result, selfAddress),
    },
  };
}

/** A time the agent reported (ISO) on the hub's clock: `correctionMs` earlier. */
export function onHubClock(iso: string, correctionMs: number): string {
  return correctionMs === 0 ? iso : new Date(Date.parse(iso) - correctionMs).toISOString();
}

/** A self-scan observes exactly the agent's own host (the gateway refuses any other), under the device's address. */
function selfHosts(result: AgentResult, address: string): AgentResult['hosts'] {
  if (result.hosts.length !== 1) throw new Error(`self-scan result of job ${result.jobId} has ${result.hosts.length} hosts, not one`);
  return [{ ...result.hosts[0], address, state: 'up' }];
}
