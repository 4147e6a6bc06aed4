import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AgentResult, AgentResultResponse, AgentScanProgress, AgentScanProgressResponse, AgentScanStarted, DomainError } from '@portolan/contracts';
import { DATA_SOURCE } from '@portolan/platform';
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
    @Inject(DATA_SOURCE) private readonly db: DataSource,
  ) {}

  /** The run started in process `boot`: its job (made here for the agent's own schedule) and the `scan-started` event. */
  started(agent: AuthenticatedAgent, report: AgentScanStarted, clock: AgentClock, boot?: string): Promise<{ jobId: string }> {
    return this.starts.accept({ agent, report, clock, boot });
  }

  /**
   * How far a run the agent runs has got: kept on its job while it runs without a result (never
   * moving back: nmap's percent restarts with each host group), with when it was said; checked on
   * the row as updated, so a run that ended meanwhile is not touched. A run the hub has not heard
   * start (picked up, `queued`: its scan-start report was lost, as it is sent once) is started by
   * it, with its `scan-started` event, as of this report. Any other run is left as it is
   * (`applied: false`: it has its result or has ended). A job that is not this agent's run of that
   * tracker is refused.
   */
  async progress(agent: AuthenticatedAgent, report: AgentScanProgress, clock: AgentClock, boot?: string): Promise<AgentScanProgressResponse> {
    let row = await this.keepProgress(agent, report);
    if (!row.applied && row.status === 'queued') {
      const startedAt = new Date(clock.receivedAtMs + (clock.offsetMs ?? 0)).toISOString(); // the agent's time at this report
      await this.starts.accept({ agent, report: { jobId: report.jobId, trackerId: report.trackerId, trigger: row.trigger, startedAt }, clock, boot });
      row = await this.keepProgress(agent, report);
    }
    return { jobId: report.jobId, applied: row.applied };
  }

  private async keepProgress(agent: AuthenticatedAgent, report: AgentScanProgress): Promise<{ applied: boolean; status: string; trigger: AgentScanStarted['trigger'] }> {
    const [row]: { applied: boolean; status: string; trigger: AgentScanStarted['trigger'] }[] = await this.db.query(
      `WITH job AS (SELECT id, status, trigger FROM scan_jobs WHERE id = $1 AND agent_id = $2 AND tracker_id = $3),
            up AS (UPDATE scan_jobs j SET progress = greatest(j.progress, $4), progress_at = now()
                     FROM job WHERE j.id = job.id AND j.status = 'running' AND j.chunk_count = 0 RETURNING j.id)
       SELECT EXISTS (SELECT 1 FROM up) AS applied, job.status, job.trigger FROM job`,
      [report.jobId, agent.id, report.trackerId, report.percent],
    );
    if (!row) throw new DomainError('not_found', `job ${report.jobId} is not a run of tracker ${report.trackerId} by agent ${agent.id}`, { field: 'jobId' });
    return row;
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
