import { Bus } from '@portolan/bus';
import { Messages, WorkerPresence } from '@portolan/contracts';
import { Logger } from '@portolan/logging';

/** How often a worker says it is there. The hub takes one silent for its offline threshold (60 s by default) as gone. */
export const PRESENCE_EVERY_MS = 15_000;

/**
 * A scanner worker's or collector's presence on the bus (`Messages.workerPresence`, core NATS):
 * said at start, every `PRESENCE_EVERY_MS`, and once more as it stops, so that the hub tells a
 * deliberate stop from a silence. What it says is read each time (`describe`: how busy it is).
 */
export class PresenceBeacon {
  private timer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly describe: () => Omit<WorkerPresence, 'startedAt' | 'stopping'>,
    private readonly everyMs = PRESENCE_EVERY_MS,
  ) {}

  start(): void {
    this.say();
    this.timer = setInterval(() => this.say(), this.everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.say(true);
  }

  private say(stopping = false): void {
    try {
      this.bus.emit(Messages.workerPresence, { ...this.describe(), startedAt: this.startedAt, ...(stopping && { stopping }) });
    } catch (error) {
      // Fire and forget: the next beat says it again.
      this.logger.debug({ err: String(error) }, 'presence not said');
    }
  }
}
