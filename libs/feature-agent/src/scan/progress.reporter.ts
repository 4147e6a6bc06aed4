/** What a run reports of its progress: percent of the whole run. */
export interface RunProgress {
  readonly percent: number;
}

/** How often a long scan tells the hub how far it has got, unless set (`progressSeconds`): one small call; the hub keeps the run alive with it. */
export const PROGRESS_EVERY_MS = 15_000;

/**
 * Sends a run's progress to the hub at most once each `everyMs`, the latest when it is due, one
 * call at a time: the engine says it every couple of seconds, the hub needs much less. Progress
 * is advisory: a call that fails is dropped (`onError`), never retried, and never holds the run up.
 */
export class ProgressReporter {
  private lastSentAt: number;
  private sending = false;
  private stopped = false;

  constructor(
    private readonly send: (progress: RunProgress) => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
    private readonly everyMs = PROGRESS_EVERY_MS,
    private readonly now: () => number = Date.now,
  ) {
    // The run's start was just reported: the first progress is due a period on.
    this.lastSentAt = now();
  }

  report(progress: RunProgress): void {
    if (this.stopped || this.sending || this.now() - this.lastSentAt < this.everyMs) return;
    this.sending = true;
    this.lastSentAt = this.now();
    const rounded = { ...progress, percent: Math.round(progress.percent * 10) / 10 };
    let sent: Promise<unknown>;
    try {
      sent = this.send(rounded);
    } catch (error) {
      sent = Promise.reject(error); // thrown at once (not enrolled): dropped like one the hub refused
    }
    sent
      .catch((error: unknown) => this.onError(error))
      .catch(() => undefined)
      .finally(() => (this.sending = false));
  }

  /** The run ended: whatever the engine still says is not sent. */
  stop(): void {
    this.stopped = true;
  }
}
