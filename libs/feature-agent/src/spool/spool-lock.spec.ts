import { holderState, LOCK_STALE_MS, LockHolder, LockSystem, parseLock, tasklistImage } from './spool-lock';

describe('spool lock holders', () => {
  const BOOT = '9b1f3a52-3c1e-4a4f-9d37-0c6f3f1c2b7a';
  const NS = 'pid:[4026531836]';
  const NOW = Date.parse('2026-12-06T12:00:00Z');
  const BOOTED = NOW - 3_600_000;
  const system = (over: Partial<LockSystem> = {}): LockSystem => ({
    ownPid: 4242,
    nowMs: () => NOW,
    isAlive: (pid) => pid === 7 || pid === 4242,
    bootId: () => BOOT,
    bootedAtMs: () => BOOTED,
    pidNamespace: () => NS,
    startTicks: (pid) => (pid === 7 ? '1500' : pid === 4242 ? '9000' : undefined),
    imageName: () => undefined,
    ...over,
  });
  const recently = NOW - 1_000;
  const holderRunning = (holder: LockHolder, touchedAtMs: number, sys: LockSystem) => holderState(holder, touchedAtMs, sys) === 'running';

  it('reads the pid and what tells its process apart, and older locks of a pid alone', () => {
    expect(parseLock(`7\nboot=${BOOT}\npidns=${NS}\nstart=1500\n`)).toEqual({ pid: 7, bootId: BOOT, pidNamespace: NS, startTicks: '1500' });
    expect(parseLock('7\n')).toEqual({ pid: 7 });
    expect(parseLock('7')).toEqual({ pid: 7 });
    expect(parseLock('7\nnonsense\nstart=\n')).toEqual({ pid: 7 });
  });

  it('reads nothing from a lock that names no pid, or pid 0', () => {
    for (const text of ['', '\n', 'seven\n', '0\n', '-7\n', '99999999999\n', ' 7\n']) expect(parseLock(text)).toBeUndefined();
  });

  it('holds a lock whose writer still runs: this boot, alive, same start', () => {
    expect(holderRunning({ pid: 7, bootId: BOOT, pidNamespace: NS, startTicks: '1500' }, recently, system())).toBe(true);
    // In this process, a spool opened twice: the lock is this process's own.
    expect(holderRunning({ pid: 4242, bootId: BOOT, pidNamespace: NS, startTicks: '9000' }, recently, system())).toBe(true);
    // An older agent's lock naming another live process of this boot: it may be an agent.
    expect(holderRunning({ pid: 7 }, recently, system())).toBe(true);
  });

  it('frees a lock whose pid is gone', () => {
    expect(holderRunning({ pid: 8, bootId: BOOT, pidNamespace: NS, startTicks: '1500' }, recently, system())).toBe(false);
    expect(holderRunning({ pid: 8 }, recently, system())).toBe(false);
  });

  it('frees a lock written on another boot or machine (a reboot, a cloned image), or before this boot, whatever its pid is now', () => {
    expect(holderRunning({ pid: 7, bootId: '00000000-0000-4000-8000-000000000000', pidNamespace: NS, startTicks: '1500' }, recently, system())).toBe(false);
    expect(holderRunning({ pid: 7 }, BOOTED - 60_000, system())).toBe(false);
  });

  it('frees a lock whose pid is another process now (another start time)', () => {
    expect(holderRunning({ pid: 7, bootId: BOOT, pidNamespace: NS, startTicks: '1499' }, recently, system())).toBe(false);
  });

  it("frees a lock naming this process's own pid that this process did not write (a container restarted with the same pid)", () => {
    expect(holderRunning({ pid: 4242 }, recently, system())).toBe(false);
    expect(holderRunning({ pid: 4242, bootId: BOOT }, recently, system())).toBe(false);
    expect(holderRunning({ pid: 4242, bootId: BOOT, startTicks: '8999' }, recently, system())).toBe(false);
  });

  it('judges a holder in another pid namespace (another container on this host) by how lately it touched the lock', () => {
    const other = { pid: 4242, bootId: BOOT, pidNamespace: 'pid:[4026532999]', startTicks: '12' };
    expect(holderState(other, NOW - 1_000, system())).toBe('elsewhere');
    expect(holderState(other, NOW - LOCK_STALE_MS - 1, system())).toBe('stale');
    // Its pid is not looked at: here it may be anything, this process included, or nothing.
    expect(holderState({ ...other, pid: 8 }, NOW - 1_000, system())).toBe('elsewhere');
  });

  it("where the system tells neither boot, namespace nor start time (Windows), goes by the pid; one naming this process's pid is an earlier process's", () => {
    const bare = system({ bootId: () => undefined, bootedAtMs: () => undefined, pidNamespace: () => undefined, startTicks: () => undefined });
    expect(holderRunning({ pid: 7 }, recently, bare)).toBe(true);
    expect(holderRunning({ pid: 8 }, recently, bare)).toBe(false);
    expect(holderRunning({ pid: 4242 }, recently, bare)).toBe(false);
  });

  it('on Windows, frees a lock left before this boot, or whose pid runs another program now; holds one whose program still runs under its pid', () => {
    const windows = system({ bootId: () => undefined, pidNamespace: () => undefined, startTicks: () => undefined, imageName: (pid) => (pid === 7 ? 'node.exe' : undefined) });
    expect(holderRunning({ pid: 7, image: 'node.exe' }, recently, windows)).toBe(true);
    expect(holderRunning({ pid: 7, image: 'NODE.EXE' }, recently, windows)).toBe(true); // Windows file names know no case
    // Another program under the pid, and the lock untouched since: the holder is gone. Still touched: a name of two forms (8.3), held.
    expect(holderRunning({ pid: 7, image: 'portolan-agent.exe' }, NOW - LOCK_STALE_MS, windows)).toBe(false);
    expect(holderRunning({ pid: 7, image: 'PORTOL~1.EXE' }, recently, windows)).toBe(true);
    // The same program under the pid (another node.exe got it), and no touch for three stale periods: gone.
    expect(holderRunning({ pid: 7, image: 'node.exe' }, NOW - 2 * LOCK_STALE_MS, windows)).toBe(true);
    expect(holderRunning({ pid: 7, image: 'node.exe' }, NOW - 3 * LOCK_STALE_MS, windows)).toBe(false);
    // A lock of the boot before (the machine crashed): its pid, taken by whatever runs now, is not looked at.
    expect(holderRunning({ pid: 7, image: 'node.exe' }, BOOTED - 5_000, windows)).toBe(false);
    // tasklist could not tell: the pid alone decides.
    expect(holderRunning({ pid: 7, image: 'node.exe' }, recently, system({ ...windows, imageName: () => undefined }))).toBe(true);
    expect(parseLock('7\nimage=node.exe\n')).toEqual({ pid: 7, image: 'node.exe' });
  });

  it("reads a process's image from tasklist's CSV rows, and none from its localised no-match line", () => {
    const rows = '\r\n"node.exe","4732","Services","0","45,124 K"\r\n"svchost.exe","47320","Services","0","9,000 K"\r\n';
    expect(tasklistImage(rows, 4732)).toBe('node.exe');
    expect(tasklistImage(rows, 47320)).toBe('svchost.exe');
    expect(tasklistImage(rows, 473)).toBeUndefined();
    expect(tasklistImage('INFO: No tasks are running which match the specified criteria.\r\n', 4732)).toBeUndefined();
    expect(tasklistImage('Information : aucune tâche en service ne correspond aux critères spécifiés.\r\n', 4732)).toBeUndefined();
  });
});
