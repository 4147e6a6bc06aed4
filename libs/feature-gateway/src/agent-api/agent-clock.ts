import { AGENT_CLOCK_HEADER, DomainError } from '@portolan/contracts';

/**
 * Below this, an agent's clock is taken as right: what the hub measures is mostly the call's
 * transit (the agent stamps a call when it sends it, the hub when its headers arrive).
 */
export const CLOCK_TOLERANCE_MS = 5_000;
/** A stamp further than this from the hub's clock is not a clock (100 years). */
const MAX_OFFSET_MS = 100 * 365.25 * 86_400_000;
const DIGITS = /^[0-9]{1,16}$/;

/** One call's view of the agent's clock: when the hub received it, and how far ahead of the hub the agent's clock was (agent − hub), if it said. */
export interface AgentClock {
  readonly receivedAtMs: number;
  /** Undefined for an agent that does not stamp its calls (before this header). */
  readonly offsetMs?: number;
}

/**
 * The agent's clock as a call shows it (`X-Portolan-Agent-Time`: its wall clock in ms since the
 * epoch when it sent the call), against the hub's at `receivedAtMs`. A stamp that is not such a
 * number is refused, naming the header, before anything is stored.
 */
export function readAgentClock(stamp: string | undefined, receivedAtMs: number): AgentClock {
  if (stamp === undefined) return { receivedAtMs };
  const sentAtMs = DIGITS.test(stamp) ? Number(stamp) : NaN;
  if (!Number.isSafeInteger(sentAtMs) || Math.abs(sentAtMs - receivedAtMs) > MAX_OFFSET_MS) {
    throw new DomainError('invalid_payload', `the ${AGENT_CLOCK_HEADER} header must be the agent's clock in milliseconds since 1970 (digits only), not ${JSON.stringify(stamp.slice(0, 40))}`, {
      field: AGENT_CLOCK_HEADER,
    });
  }
  return { receivedAtMs, offsetMs: sentAtMs - receivedAtMs };
}

/**
 * How many milliseconds to take off the times an agent reports for a run (`lastAtMs`: its end,
 * or its start for a start report) to put them on the hub's clock:
 * - the agent's clock offset, when it is beyond the tolerance (a host whose clock is hours off
 *   would otherwise date its changes hours off, and match them against the wrong planned-change
 *   windows);
 * - and whatever more keeps the run from ending after the hub received it: a run spooled while
 *   the agent's clock ran ahead, and uploaded once it was set right, carries times the offset
 *   measured now does not explain. Left in the future, such a time would also make every later
 *   result of its tracker look older than the baseline, and be ignored until the hub's clock
 *   caught up with it.
 * Within the tolerance nothing changes (0). A run's duration never changes: both ends move alike.
 */
export function clockCorrectionMs(clock: AgentClock, lastAtMs: number): number {
  const skew = clock.offsetMs !== undefined && Math.abs(clock.offsetMs) > CLOCK_TOLERANCE_MS ? clock.offsetMs : 0;
  const late = lastAtMs - skew - clock.receivedAtMs;
  return late > CLOCK_TOLERANCE_MS ? skew + late : skew;
}

/** An agent's clock further than this from the hub's is announced skewed (`agent-clock-skewed`)... */
export const CLOCK_SKEWED_MS = 60_000;
/** ...and synchronised again once it is back within this (a margin, so that a clock near the line does not announce itself at every poll). */
export const CLOCK_SYNCHRONISED_MS = 30_000;

/** Whether a poll showing `offsetMs` changes what the hub holds of the agent's clock (`wasSkewed`): the event to announce, if any. */
export function clockTransition(wasSkewed: boolean, offsetMs: number | undefined): 'agent-clock-skewed' | 'agent-clock-synchronised' | undefined {
  if (offsetMs === undefined) return undefined;
  if (!wasSkewed && Math.abs(offsetMs) > CLOCK_SKEWED_MS) return 'agent-clock-skewed';
  if (wasSkewed && Math.abs(offsetMs) <= CLOCK_SYNCHRONISED_MS) return 'agent-clock-synchronised';
  return undefined;
}
