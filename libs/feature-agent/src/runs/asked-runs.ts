import { AgentJob, AgentTracker } from '@portolan/contracts';

/** How many runs asked by the hub one process remembers having taken (or given up). */
export const MAX_RUNS_REMEMBERED = 10_000;

/** What to do with a run the hub handed over. */
export type AskedRunDecision =
  | { readonly kind: 'run'; readonly tracker: AgentTracker }
  /** Its tracker is not in this agent's configuration yet: fetch the configuration, then `afterConfig`. */
  | { readonly kind: 'await-config' }
  /** Taken by this process already, or its result is in the spool (an earlier process ran it): not run again. */
  | { readonly kind: 'skip'; readonly why: 'taken' | 'spooled' };

/**
 * The runs the hub asked of this agent process (`manual`). The hub hands a run it has not seen
 * start to each new process of the agent (this one after a restart), to this process again every
 * two minutes (in case its answer was lost), and, while two processes share an identity, to each
 * of them; one an earlier process finished may still be waiting in the spool to be uploaded. So a
 * run is queued once, and never when its result is in the spool.
 */
export class AskedRuns {
  private readonly taken = new Set<string>();
  private readonly awaitingConfig = new Map<string, AgentJob>();

  constructor(private readonly limit = MAX_RUNS_REMEMBERED) {}

  /** `spooled`: whether the spool holds a result of the job; `trackers`: the configuration applied. */
  take(job: AgentJob, spooled: (jobId: string) => boolean, trackers: readonly AgentTracker[]): AskedRunDecision {
    if (this.taken.has(job.jobId)) return { kind: 'skip', why: 'taken' };
    if (spooled(job.jobId)) {
      this.remember(job.jobId);
      return { kind: 'skip', why: 'spooled' };
    }
    const tracker = trackers.find((t) => t.id === job.trackerId);
    if (!tracker) {
      this.awaitingConfig.set(job.jobId, job);
      return { kind: 'await-config' };
    }
    this.remember(job.jobId);
    return { kind: 'run', tracker };
  }

  /**
   * Once a new configuration is applied: the runs that waited for it, each decided again; those
   * whose tracker it still does not have are `unknown`: given up (not run, and skipped as taken
   * when the hub hands them over again; it fails them in time).
   */
  afterConfig(spooled: (jobId: string) => boolean, trackers: readonly AgentTracker[]): { decided: { job: AgentJob; decision: AskedRunDecision }[]; unknown: AgentJob[] } {
    const waiting = [...this.awaitingConfig.values()];
    this.awaitingConfig.clear();
    const decided: { job: AgentJob; decision: AskedRunDecision }[] = [];
    const unknown: AgentJob[] = [];
    for (const job of waiting) {
      if (trackers.some((t) => t.id === job.trackerId)) decided.push({ job, decision: this.take(job, spooled, trackers) });
      else {
        this.remember(job.jobId);
        unknown.push(job);
      }
    }
    return { decided, unknown };
  }

  /** Runs taken already (their results in the spool at start): not run if handed over. */
  markTaken(jobIds: Iterable<string>): void {
    for (const jobId of jobIds) this.remember(jobId);
  }

  /** The process has another identity now: the runs asked under the old one are none of its business. */
  forget(): void {
    this.taken.clear();
    this.awaitingConfig.clear();
  }

  private remember(jobId: string): void {
    this.taken.add(jobId);
    if (this.taken.size > this.limit) this.taken.delete(this.taken.values().next().value!);
  }
}
