import { holderRunning, LockSystem, parseLock } from './spool-lock';

describe('spool lock holders', () => {
  const BOOT = '9b1f3a52-3c1e-4a4f-9d37-0c6f3f1c2b7a';
  const system = (over: Partial<LockSystem> = {}): LockSystem => ({
    ownPid: 4242,
    isAlive: (pid) => pid === 7 || pid === 4242,
    bootId: () => BOOT,
    startTicks: (pid) => (pid === 7 ? '1500' : pid === 4242 ? '9000' : undefined),
    ...over,
  });

  it('reads the pid, the boot and the start time, and older locks of a pid alone', () => {
    expect(parseLock(`7\nboot=${BOOT}\nstart=1500\n`)).toEqual({ pid: 7, bootId: BOOT, startTicks: '1500' });
    expect(parseLock('7\n')).toEqual({ pid: 7 });
    expect(parseLock('7')).toEqual({ pid: 7 });
  });

  it('reads nothing from a lock that names no pid, or pid 0', () => {
    for (const text of ['', '\n', 'seven\n', '0\n', '-7\n', '99999999999\n', ' 7\n']) expect(parseLock(text)).toBeUndefined();
  });

  it('holds a lock whose writer still runs: alive, this boot, same start', () => {
    expect(holderRunning({ pid: 7, bootId: BOOT, startTicks: '1500' }, system())).toBe(true);
    // In this process, a spool opened twice: the lock is this process's own.
    expect(holderRunning({ pid: 4242, bootId: BOOT, startTicks: '9000' }, system())).toBe(true);
  });

  it('frees a lock whose pid is gone', () => {
    expect(holderRunning({ pid: 8, bootId: BOOT, startTicks: '1500' }, system())).toBe(false);
    expect(holderRunning({ pid: 8 }, system())).toBe(false);
  });

  it('frees a lock written on another boot or machine (a reboot, a cloned image), whatever its pid is now', () => {
    expect(holderRunning({ pid: 7, bootId: '00000000-0000-4000-8000-000000000000', startTicks: '1500' }, system())).toBe(false);
    expect(holderRunning({ pid: 4242, bootId: '00000000-0000-4000-8000-000000000000' }, system())).toBe(false);
  });

  it('frees a lock whose pid is another process now (another start time)', () => {
    expect(holderRunning({ pid: 7, bootId: BOOT, startTicks: '1499' }, system())).toBe(false);
  });

  it("frees an older agent's lock naming this process's own pid (a container restarted with the same pid), and holds one naming another live pid", () => {
    expect(holderRunning({ pid: 4242 }, system())).toBe(false);
    expect(holderRunning({ pid: 7 }, system())).toBe(true);
  });

  it('where the system tells neither boot nor start time (Windows), goes by the pid', () => {
    const bare = system({ bootId: () => undefined, startTicks: () => undefined });
    expect(holderRunning({ pid: 7, bootId: BOOT, startTicks: '1' }, bare)).toBe(true);
    expect(holderRunning({ pid: 8 }, bare)).toBe(false);
  });
});
