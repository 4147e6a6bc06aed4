import { AgentTracker } from '@portolan/contracts';
import { firstRunAt, nextRunAfter, Schedule } from '@portolan/schedule';

/** How many dropped trackers' next runs are remembered (`LocalSchedule.departed`). */
const MAX_DEPARTED = 1_000;

/**
 * Pure: when each of the agent's trackers runs next. `at-agent-startup` runs once when the
 * agent starts (not again when the configuration changes); interval, cron and once follow
 * the same rules as the hub's scheduler.
 */
export class LocalSchedule {
  private readonly next = new Map<string, Date | null>();
  /** Each scheduled tracker's schedule as it was taken (JSON). */
  private readonly schedules = new Map<string, string>();
  /**
   * Trackers the configuration dropped, with their next run: one that comes back on the same
   * schedule (the hub left it out while its address did not resolve, then gave it again) keeps
   * its place instead of running at once.
   */
  private readonly departed = new Map<string, { at: Date | null; schedule: string }>();
  /** Whether the first configuration of this agent process was taken. */
  private configured = false;

  constructor(private readonly departedLimit = MAX_DEPARTED) {}

  /** Takes a new configuration; trackers that are still there, or back on the same schedule, keep their next run. */
  update(trackers: readonly AgentTracker[], now: Date): void {
    const ids = new Set(trackers.map((t) => t.id));
    for (const [id, at] of [...this.next]) {
      if (ids.has(id)) continue;
      this.departed.delete(id);
      this.departed.set(id, { at, schedule: this.schedules.get(id)! });
      if (this.departed.size > this.departedLimit) this.departed.delete(this.departed.keys().next().value!);
      this.next.delete(id);
      this.schedules.delete(id);
    }
    for (const tracker of trackers) {
      if (this.next.has(tracker.id)) continue;
      const schedule = JSON.stringify(tracker.schedule);
      this.schedules.set(tracker.id, schedule);
      const back = this.departed.get(tracker.id);
      this.departed.delete(tracker.id);
      if (back && back.schedule === schedule) {
        this.next.set(tracker.id, back.at);
        continue;
      }
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
