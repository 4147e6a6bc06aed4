import { Bus, ConsumerHandle } from '@portolan/bus';
import { Messages } from '@portolan/contracts';
import { Logger } from '@portolan/logging';

/** How many cancelled jobs a worker remembers: chunks of theirs still queued are passed over when they come. */
export const CANCELLED_JOBS_REMEMBERED = 10_000;

/**
 * What a scanner worker or collector knows of the jobs operators cancelled (`POST
 * /jobs/:id/cancel`, heard as `Messages.jobCancelled`): those cancelled lately, whose chunks still
 * queued it passes over when they come, and its work under way on each, aborted when its job is
 * cancelled. The hub settled the job's chunks as cancelled already: whatever a worker sends of
 * them is passed over.
 */
export class JobCancellations {
  /** Job id → the reason it was cancelled for, oldest first. */
  private readonly cancelled = new Map<string, string>();
  private readonly underWay = new Map<string, Set<AbortController>>();

  constructor(private readonly limit = CANCELLED_JOBS_REMEMBERED) {}

  /** Hears cancellations from the bus for as long as the handle is not stopped. */
  listen(bus: Bus, logger: Logger): Promise<ConsumerHandle> {
    return bus.subscribe(Messages.jobCancelled, ({ payload }) => {
      const aborted = this.cancel(payload.jobId, payload.reason);
      if (aborted) logger.info({ jobId: payload.jobId, aborted, reason: payload.reason }, 'job cancelled: its work under way here stopped');
    });
  }

  /** Why the job was cancelled, if it was (lately). */
  reasonFor(jobId: string): string | undefined {
    return this.cancelled.get(jobId);
  }

  /** Marks the job cancelled and aborts its work under way; answers how much was aborted. */
  cancel(jobId: string, reason: string): number {
    this.cancelled.delete(jobId);
    this.cancelled.set(jobId, reason);
    if (this.cancelled.size > this.limit) this.cancelled.delete(this.cancelled.keys().next().value!);
    const work = [...(this.underWay.get(jobId) ?? [])].filter((controller) => !controller.signal.aborted);
    for (const controller of work) controller.abort();
    return work.length;
  }

  /** Work on one of the job's chunks, under way until the answer is called: aborted if the job is cancelled meanwhile. */
  track(jobId: string, controller: AbortController): () => void {
    const work = this.underWay.get(jobId) ?? new Set<AbortController>();
    work.add(controller);
    this.underWay.set(jobId, work);
    return () => {
      work.delete(controller);
      if (!work.size && this.underWay.get(jobId) === work) this.underWay.delete(jobId);
    };
  }
}
