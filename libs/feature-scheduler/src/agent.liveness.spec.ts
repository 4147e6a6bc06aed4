import { unstartedRunReason } from './agent.liveness';

const NOW = Date.parse('2026-12-07T12:00:00Z');
const ago = (minutes: number) => new Date(NOW - minutes * 60_000);
/** Pickup timeout 15 min, start timeout 24 h. */
const cutoffs = { pickup: ago(15), start: ago(24 * 60) };
const online = { status: 'online', lastSeenAt: ago(0.5) };

describe('unstartedRunReason', () => {
  it('fails a run no process of the agent picked up within the pickup timeout', () => {
    expect(unstartedRunReason({ status: 'pending', requestedAt: ago(16), claimedAt: null }, online, cutoffs)).toBe('pickup');
    expect(unstartedRunReason({ status: 'pending', requestedAt: ago(14), claimedAt: null }, online, cutoffs)).toBeUndefined();
  });

  it('fails a picked-up run once the agent has been silent (or revoked, or deleted) for the pickup timeout since its last pickup', () => {
    const picked = { status: 'queued' as const, requestedAt: ago(40), claimedAt: ago(20) };
    expect(unstartedRunReason(picked, { status: 'offline', lastSeenAt: ago(16) }, cutoffs)).toBe('gone');
    expect(unstartedRunReason(picked, { status: 'revoked', lastSeenAt: ago(1) }, cutoffs)).toBe('gone');
    expect(unstartedRunReason(picked, undefined, cutoffs)).toBe('gone');
    // Offline for a blip only, or polling: its process may still run it.
    expect(unstartedRunReason(picked, { status: 'offline', lastSeenAt: ago(3) }, cutoffs)).toBeUndefined();
    expect(unstartedRunReason(picked, online, cutoffs)).toBeUndefined();
    // Picked up again lately (a new process of the agent): not before the pickup timeout from then.
    expect(unstartedRunReason({ ...picked, claimedAt: ago(5) }, { status: 'offline', lastSeenAt: ago(16) }, cutoffs)).toBeUndefined();
    // Picked up before pickups were recorded: counted from the request.
    expect(unstartedRunReason({ ...picked, claimedAt: null }, { status: 'offline', lastSeenAt: ago(16) }, cutoffs)).toBe('gone');
  });

  it('fails a picked-up run not started within the start timeout since it was asked, though the agent polls and picks it up anew', () => {
    expect(unstartedRunReason({ status: 'queued', requestedAt: ago(24 * 60 + 1), claimedAt: ago(1) }, online, cutoffs)).toBe('start');
    expect(unstartedRunReason({ status: 'queued', requestedAt: ago(23 * 60), claimedAt: ago(23 * 60) }, online, cutoffs)).toBeUndefined();
  });

  it('leaves started and finished runs alone', () => {
    for (const status of ['running', 'succeeded', 'failed', 'partial'] as const) {
      expect(unstartedRunReason({ status, requestedAt: ago(48 * 60), claimedAt: ago(48 * 60) }, undefined, cutoffs)).toBeUndefined();
    }
  });
});
