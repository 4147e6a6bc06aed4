import { DomainError } from '@portolan/contracts';
import { CLOCK_TOLERANCE_MS, clockCorrectionMs, clockTransition, readAgentClock } from './agent-clock';

const NOW = Date.parse('2026-12-06T12:00:00.000Z');
const HOUR = 3_600_000;

describe('readAgentClock', () => {
  it('measures the agent clock against the hub clock (agent minus hub)', () => {
    expect(readAgentClock(String(NOW + 2 * HOUR), NOW)).toEqual({ receivedAtMs: NOW, offsetMs: 2 * HOUR });
    expect(readAgentClock(String(NOW - 90_000), NOW)).toEqual({ receivedAtMs: NOW, offsetMs: -90_000 });
  });

  it('knows nothing of the clock of an agent that does not stamp its calls', () => {
    expect(readAgentClock(undefined, NOW)).toEqual({ receivedAtMs: NOW });
  });

  it.each(['', 'yesterday', '2026-12-06T12:00:00Z', '1.5e12', '-1', ' 1765000000000', '99999999999999999'])('refuses the stamp %j, naming the header', (stamp) => {
    let error: unknown;
    try {
      readAgentClock(stamp, NOW);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('invalid_payload');
    expect((error as DomainError).message).toMatch(/^the x-portolan-agent-time header must be the agent's clock in milliseconds since 1970/);
  });
});

describe('clockCorrectionMs', () => {
  it('changes nothing for a clock within the tolerance, or an agent that does not say', () => {
    expect(clockCorrectionMs({ receivedAtMs: NOW, offsetMs: CLOCK_TOLERANCE_MS }, NOW - 1_000)).toBe(0);
    expect(clockCorrectionMs({ receivedAtMs: NOW, offsetMs: -CLOCK_TOLERANCE_MS }, NOW - 1_000)).toBe(0);
    expect(clockCorrectionMs({ receivedAtMs: NOW }, NOW - HOUR)).toBe(0);
  });

  it("takes a skewed clock's offset off the run's times, either way", () => {
    // The agent's clock is 3 h behind: its run ended "at 09:00", a second before the upload.
    expect(clockCorrectionMs({ receivedAtMs: NOW, offsetMs: -3 * HOUR }, NOW - 3 * HOUR - 1_000)).toBe(-3 * HOUR);
    expect(clockCorrectionMs({ receivedAtMs: NOW, offsetMs: 2 * HOUR }, NOW + 2 * HOUR - 1_000)).toBe(2 * HOUR);
  });

  it('moves a run that would end after the hub received it back to its receipt, whatever the clock says now', () => {
    // Spooled while the clock ran 2 h ahead, uploaded once it was set right.
    expect(clockCorrectionMs({ receivedAtMs: NOW, offsetMs: 20 }, NOW + 2 * HOUR - 60_000)).toBe(2 * HOUR - 60_000);
    // An agent that does not stamp its calls, reporting a run in the future.
    expect(clockCorrectionMs({ receivedAtMs: NOW }, NOW + HOUR)).toBe(HOUR);
    // Within the tolerance of the receipt is left alone.
    expect(clockCorrectionMs({ receivedAtMs: NOW }, NOW + CLOCK_TOLERANCE_MS)).toBe(0);
  });
});

describe('clockTransition', () => {
  it('announces a clock more than a minute off once, and its return within half a minute once', () => {
    expect(clockTransition(false, 61_000)).toBe('agent-clock-skewed');
    expect(clockTransition(false, -61_000)).toBe('agent-clock-skewed');
    expect(clockTransition(false, 60_000)).toBeUndefined();
    expect(clockTransition(true, 45_000)).toBeUndefined();
    expect(clockTransition(true, 2 * HOUR)).toBeUndefined();
    expect(clockTransition(true, -30_000)).toBe('agent-clock-synchronised');
    expect(clockTransition(true, undefined)).toBeUndefined();
    expect(clockTransition(false, undefined)).toBeUndefined();
  });
});
