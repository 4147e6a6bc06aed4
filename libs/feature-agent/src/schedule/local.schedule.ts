import { AgentTracker } from '@portolan/contracts';
import { firstRunAt, nextRunAfter, Schedule } from '@portolan/schedule';

/**
 * Pure: when each of the agent's trackers runs next. `at-agent-startup` runs once when the
 * agent starts (not again when the configuration changes); interval, cron and once follow
 * the same rules as the hub's scheduler.
 */
export class LocalSchedule {
  private readonly next = new Map<string, Date | null>();
  /** Whether the first configuration of this agent process was taken. */
  private configured = false;

  /** Takes a new configuration; trackers that are still there keep their next run. */
  update(trackers: readonly AgentTracker[], now: Date): void {
    const ids = new Set(trackers.map((t) => t.id));
    for (const id of [...this.next.keys()]) if (!ids.has(id)) this.next.delete(id);
    for (const tracker of trackers) {
      if (this.next.has(tracker.id)) continue;
      if (tracker.schedule.kind === 'at-agent-startup') {
        // Runs for the trackers of the first configuration this process has; one added later
        // while the agent runs waits for the agent's next start.
        this.next.set(tracker.id, this.configured ? null : now);
        continue;
      }
      this.next.set(tracker.id, firstRunAt(tracker.schedule as Schedule, now));
    }
    this.configured = true;
  }

  /** Trackers due at `now`; each is moved to its following run. */
  takeDue(trackers: readonly AgentTracker[], now: Date): AgentTracker[] {
    const due: AgentTracker[] = [];
    for (const tracker of trackers) {
      const at = this.next.get(tracker.id);
      if (!at || at.getTime() > now.getTime()) continue;
      due.push(tracker);
      this.next.set(tracker.id, tracker.schedule.kind === 'at-agent-startup' ? null : nextRunAfter(tracker.schedule as Schedule, at, now));
    }
    return due;
  }

  /** Milliseconds until the earliest next run (bounded to `max`). */
  msUntilNext(now: Date, max: number): number {
    let soonest = max;
    for (const at of this.next.values()) if (at) soonest = Math.min(soonest, Math.max(0, at.getTime() - now.getTime()));
    return soonest;
  }
}
