import { unfinishedRunReason, unstartedRunReason } from './agent.liveness';

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

describe('unfinishedRunReason', () => {
  /** Pickup timeout 15 min, result timeout 24 h. */
  const limits = { pickup: ago(15), result: ago(24 * 60) };
  const BOOT = 'b-1';
  const run = { status: 'running' as const, chunkCount: 0, startedAt: ago(30), requestedAt: ago(31), claimedBoot: BOOT, progressAt: null };
  /** The agent, polling as `bootId` first seen `minutes` ago, its spool empty. */
  const polling = (bootId: string, minutes: number, more: { duplicated?: boolean; spoolEntries?: number; status?: string } = {}) => ({
    status: more.status ?? 'online',
    bootId,
    bootFirstSeenAt: ago(minutes),
    duplicated: more.duplicated ?? false,
    spoolEntries: more.spoolEntries ?? 0,
  });

  it('fails a run whose process was replaced, once a process seen after the run was last heard of has polled for the pickup timeout, its spool empty', () => {
    expect(unfinishedRunReason(run, polling('b-2', 16), limits)).toBe('replaced');
    // The new process may still upload it from its spool.
    expect(unfinishedRunReason(run, polling('b-2', 14), limits)).toBeUndefined();
    expect(unfinishedRunReason(run, polling('b-2', 16, { spoolEntries: 3 }), limits)).toBeUndefined();
  });

  it('does not take a boot seen before the run was last heard of for its replacement: a new process starts runs before its first poll, an old one polls late', () => {
    // The agent's boot is still its last process's (seen 40 min ago) when this process starts its at-startup run.
    expect(unfinishedRunReason(run, polling('b-0', 40), limits)).toBeUndefined();
    // A progress report after the new boot appeared: the run's process is alive.
    expect(unfinishedRunReason({ ...run, progressAt: ago(1) }, polling('b-2', 16), limits)).toBeUndefined();
  });

  it('leaves a run its own process still runs, whatever its length, until the result timeout', () => {
    expect(unfinishedRunReason(run, polling(BOOT, 60), limits)).toBeUndefined();
    expect(unfinishedRunReason({ ...run, startedAt: ago(23 * 60) }, polling(BOOT, 24 * 60), limits)).toBeUndefined();
    expect(unfinishedRunReason({ ...run, startedAt: ago(24 * 60 + 1) }, polling(BOOT, 25 * 60), limits)).toBe('silent');
    // A network scan longer than that, reporting its progress, is alive.
    expect(unfinishedRunReason({ ...run, startedAt: ago(30 * 60), progressAt: ago(1) }, polling(BOOT, 31 * 60), limits)).toBeUndefined();
    expect(unfinishedRunReason({ ...run, startedAt: ago(50 * 60), progressAt: ago(24 * 60 + 1) }, polling(BOOT, 51 * 60), limits)).toBe('silent');
  });

  it('does not take the boot of an agent flagged as two processes, or a run started without one, for a replacement', () => {
    expect(unfinishedRunReason(run, polling('b-2', 16, { duplicated: true }), limits)).toBeUndefined();
    expect(unfinishedRunReason({ ...run, claimedBoot: null }, polling('b-2', 16), limits)).toBeUndefined();
    expect(unfinishedRunReason(run, { ...polling('b-2', 16), bootFirstSeenAt: null }, limits)).toBeUndefined();
  });

  it('fails the run of a revoked or deleted agent once not heard of for the pickup timeout (its result would be refused)', () => {
    expect(unfinishedRunReason(run, polling(BOOT, 60, { status: 'revoked' }), limits)).toBe('revoked');
    expect(unfinishedRunReason(run, undefined, limits)).toBe('revoked');
    expect(unfinishedRunReason({ ...run, startedAt: ago(5) }, undefined, limits)).toBeUndefined();
  });

  it('fails the run of an agent gone silent only at the result timeout: a cut-off agent keeps its results in its spool', () => {
    const offline = { ...polling(BOOT, 60), status: 'offline' };
    expect(unfinishedRunReason(run, offline, limits)).toBeUndefined();
    expect(unfinishedRunReason({ ...run, startedAt: ago(25 * 60) }, offline, limits)).toBe('silent');
  });

  it('leaves runs with a result (their chunk) and runs not running alone', () => {
    const old = { ...run, startedAt: ago(48 * 60) };
    expect(unfinishedRunReason({ ...old, chunkCount: 1 }, polling('b-2', 16), limits)).toBeUndefined();
    for (const status of ['pending', 'queued', 'succeeded', 'failed', 'partial'] as const) expect(unfinishedRunReason({ ...old, status }, polling('b-2', 16), limits)).toBeUndefined();
  });
});
