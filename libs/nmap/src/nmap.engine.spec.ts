import { DomainError } from '@portolan/contracts/errors';
import { NmapEngine } from './nmap.engine';
import { scanFailureReason } from './scan-failure';
import type { ScanProgress } from './scan-outcome';
import type { ScanRequest } from './scan-request';
import { createFakeNmap, isRunning } from './test/fake-nmap';
import type { FakeNmap, FakeNmapBehaviour } from './test/fake-nmap';
import { FATAL_ERROR, THREE_HOSTS, ZERO_HOSTS } from './test/nmap-xml.samples';

const request: ScanRequest = {
  targets: ['10.20.30.1-3'],
  ipv6: false,
  ports: { tcp: [{ from: 22, to: 22 }, { from: 80, to: 80 }, { from: 443, to: 443 }], udp: [] },
  tcpTechnique: 'syn',
  timeoutMs: 10_000,
};

const fakes: FakeNmap[] = [];
function engineFor(behaviour: FakeNmapBehaviour, killGraceMs?: number): { engine: NmapEngine; fake: FakeNmap } {
  const fake = createFakeNmap(behaviour);
  fakes.push(fake);
  return { engine: new NmapEngine({ path: fake.path, version: '7.93' }, { killGraceMs }), fake };
}

async function failureOf(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

afterAll(() => fakes.forEach((fake) => fake.remove()));

describe('NmapEngine (against a stand-in nmap)', () => {
  it('runs the built argv and reports hosts, counts, version and exact args', async () => {
    const { engine, fake } = engineFor({ stdout: THREE_HOSTS });
    const progress: ScanProgress[] = [];

    const outcome = await engine.scan(request, (p) => progress.push(p));

    expect(fake.lastArgs()).toEqual(outcome.args);
    expect(outcome.args).toEqual(['-oX', '-', '--stats-every', '2s', '-n', '--max-retries', '2', '-sS', '-p', 'T:22,80,443', '10.20.30.1-3']);
    expect(outcome.engine).toBe('nmap');
    expect(outcome.engineVersion).toBe('7.93');
    expect(outcome.hosts.map((h) => h.address)).toEqual(['10.20.30.1', '10.20.30.2', '10.20.30.3']);
    expect([outcome.hostsUp, outcome.hostsDown, outcome.hostsTotal]).toEqual([2, 1, 3]);
    expect(progress.map((p) => [p.percent, p.hostsDone])).toEqual([[33.33, 0], [10, 1]]);
    expect(outcome.finishedAt.getTime() - outcome.startedAt.getTime()).toBe(outcome.durationMs);
  });

  it('is not failed by a progress listener that throws', async () => {
    const { engine } = engineFor({ stdout: THREE_HOSTS });
    const outcome = await engine.scan(request, () => {
      throw new Error('listener bug');
    });
    expect(outcome.hostsTotal).toBe(3);
  });

  it('rejects with nmap errormsg when the run finished with exit="error"', async () => {
    const { engine } = engineFor({ stdout: FATAL_ERROR, stderr: 'QUITTING!\n', exitCode: 1 });
    const error = await failureOf(engine.scan(request));
    expect(error.code).toBe('scan_failed');
    expect(scanFailureReason(error)).toBe('nmap_error');
    expect(error.message).toBe('nmap failed: Ports specified must be between 0 and 65535 inclusive');
  });

  it('rejects a non-zero exit with the tail of stderr', async () => {
    const stderr = 'Starting...\nYou requested a scan type which requires root privileges.\nQUITTING!\n';
    const { engine } = engineFor({ stderr, exitCode: 1 });
    const error = await failureOf(engine.scan(request));
    expect(scanFailureReason(error)).toBe('exit_status');
    expect(error.message).toMatch(/^nmap exited with status 1\. nmap said: .*requires root privileges\. \| QUITTING!$/);
  });

  it('rejects a run that scanned zero hosts although targets were given', async () => {
    const stderr = 'Failed to resolve "no-such-host.invalid".\nWARNING: No targets were specified, so 0 hosts scanned.\n';
    const { engine } = engineFor({ stdout: ZERO_HOSTS, stderr });
    const error = await failureOf(engine.scan({ ...request, targets: ['no-such-host.invalid'] }));
    expect(scanFailureReason(error)).toBe('no_hosts');
    expect(error.message).toContain('nmap scanned 0 hosts');
    expect(error.message).toContain('Failed to resolve "no-such-host.invalid"');
  });

  it('rejects truncated XML even when nmap exits 0', async () => {
    const { engine } = engineFor({ stdout: THREE_HOSTS.slice(0, 2000) });
    const error = await failureOf(engine.scan(request));
    expect(scanFailureReason(error)).toBe('malformed_output');
    expect(error.message).toMatch(/line \d+, column \d+/);
  });

  it('rejects XML that breaks mid-stream and stops nmap', async () => {
    const { engine, fake } = engineFor({ stdout: '<nmaprun><host></nmaprun>', hang: true });
    const error = await failureOf(engine.scan(request));
    expect(scanFailureReason(error)).toBe('malformed_output');
    expect(isRunning(fake.lastPid())).toBe(false);
  });

  it('on timeout sends SIGTERM, then SIGKILL after the grace period, and rejects once nmap is gone', async () => {
    const { engine, fake } = engineFor({ stdout: THREE_HOSTS.slice(0, 500), hang: true, ignoreTerm: true }, 300);
    const started = Date.now();
    const error = await failureOf(engine.scan({ ...request, timeoutMs: 200 }));
    expect(scanFailureReason(error)).toBe('timeout');
    expect(error.message).toBe('nmap scan did not finish within 200 ms and was stopped');
    expect(Date.now() - started).toBeGreaterThanOrEqual(480);
    expect(isRunning(fake.lastPid())).toBe(false);
  });

  it('stops nmap at once with SIGTERM when it obeys it', async () => {
    const { engine, fake } = engineFor({ hang: true }, 5000);
    const started = Date.now();
    const error = await failureOf(engine.scan({ ...request, timeoutMs: 300 }));
    expect(scanFailureReason(error)).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(isRunning(fake.lastPid())).toBe(false);
  });

  it('cancels through the AbortSignal', async () => {
    const { engine, fake } = engineFor({ hang: true });
    const controller = new AbortController();
    const scan = engine.scan({ ...request, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const error = await failureOf(scan);
    expect(scanFailureReason(error)).toBe('cancelled');
    expect(isRunning(fake.lastPid())).toBe(false);
  });

  it('does not start nmap for an already aborted signal', async () => {
    const { engine } = engineFor({ stdout: THREE_HOSTS });
    const error = await failureOf(engine.scan({ ...request, signal: AbortSignal.abort() }));
    expect(scanFailureReason(error)).toBe('cancelled');
  });

  it('reports a binary that cannot be started', async () => {
    const engine = new NmapEngine({ path: '/nonexistent/portolan/nmap', version: '7.93' });
    const error = await failureOf(engine.scan(request));
    expect(scanFailureReason(error)).toBe('spawn_failed');
    expect(error.message).toContain('/nonexistent/portolan/nmap');
  });

  it('refuses a relative binary path and an unsafe request before spawning', async () => {
    expect(() => new NmapEngine({ path: 'nmap', version: '7.93' })).toThrow(/absolute/);
    const { engine } = engineFor({ stdout: THREE_HOSTS });
    expect((await failureOf(engine.scan({ ...request, targets: ['-iL', '/etc/hosts'] }))).code).toBe('invalid_target');
    expect((await failureOf(engine.scan({ ...request, timeoutMs: 0 }))).code).toBe('invalid_payload');
  });
});
