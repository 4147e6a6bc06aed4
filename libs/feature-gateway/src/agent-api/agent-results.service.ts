import { Injectable } from '@nestjs/common';
import { AgentResult, AgentResultResponse, AgentScanStarted, DomainError } from '@portolan/contracts';
import { AgentClock } from './agent-clock';
import { AuthenticatedAgent } from './agent.directory';
import { ScanStartIngest } from './scan-start.ingest';
import { UploadIngest } from './upload.ingest';

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{8,128}$/;

/**
 * Accepts what agents report about their runs: that a run started (its job and `scan-started`
 * event, `ScanStartIngest`), and its result, which `UploadIngest` stores, checked against the
 * tracker the agent owns, with its job, its one chunk, its idempotency record and the result
 * message (the outbox). A replayed upload (same Idempotency-Key) finds its record and changes
 * nothing; a start reported again changes nothing either.
 */
@Injectable()
export class AgentResultsService {
  constructor(
    private readonly starts: ScanStartIngest,
    private readonly ingest: UploadIngest,
  ) {}

  /** The run started: its job (made here for the agent's own schedule) and the `scan-started` event. */
  started(agent: AuthenticatedAgent, report: AgentScanStarted, clock: AgentClock): Promise<{ jobId: string }> {
    return this.starts.accept({ agent, report, clock });
  }

  /**
   * A result upload, stored with group commit (`UploadIngest`) as the agent sent it (`bodyGzip`:
   * the body that parsed to `result`, gzip-compressed); a replay answers `duplicate: true`. The
   * run's times are put on the hub's clock (`clock`: when the hub received it, the agent's clock then).
   */
  async accept(agent: AuthenticatedAgent, idempotencyKey: string | undefined, result: AgentResult, bodyGzip: Buffer, clock: AgentClock): Promise<AgentResultResponse> {
    if (!idempotencyKey || !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new DomainError('invalid_payload', 'the Idempotency-Key header is required: 8 to 128 letters, digits, "-" or "_"', { field: 'Idempotency-Key' });
    }
    return this.ingest.accept({ agent, idempotencyKey, result, bodyGzip, clock });
  }
}
