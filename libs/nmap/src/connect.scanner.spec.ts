import { DomainError } from '@portolan/contracts/errors';
import { ConnectScanner } from './connect.scanner';
import { scanFailed, scanFailureReason } from './scan-failure';
import type { ScanProgress } from './scan-outcome';
import type { ScanRequest } from './scan-request';
import type { Probe, ProbeResult } from './tcp.probe';

type Script = (address: string, port: number) => ProbeResult | 'hang' | 'emfile';

/** A probe stand-in that answers after `delayMs` and records how many probes overlap. */
function scriptedProbes(script: Script, delayMs = 2) {
  const stats = { started: 0, cancelled: 0, maxInFlight: 0, maxPerHost: 0, seen: new Set<string>() };
  let inFlight = 0;
  const perHost = new Map<string, number>();
  const probe = (address: string, port: number): Probe => {
    stats.started += 1;
    stats.seen.add(`${address}:${port}`);
    inFlight += 1;
    perHost.set(address, (perHost.get(address) ?? 0) + 1);
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    stats.maxPerHost = Math.max(stats.maxPerHost, perHost.get(address) ?? 0);
    let settle: (value: ProbeResult | null) => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const result = new Promise<ProbeResult | null>((resolve, reject) => {
      const done = (): void => {
        inFlight -= 1;
        perHost.set(address, (perHost.get(address) ?? 1) - 1);
      };
      settle = (value) => {
        clearTimeout(timer);
        done();
        resolve(value);
      };
      const answer = script(address, port);
      if (answer === 'hang') return;
      timer = setTimeout(() => {
        if (answer === 'emfile') {
          done();
          reject(scanFailed('local_resources', 'out of sockets (EMFILE)'));
        } else {
          settle(answer);
        }
      }, delayMs);
    });
    return {
      result,
      cancel: () => {
        stats.cancelled += 1;
        settle(null);
      },
    };
  };
  return { probe, stats };
}

const request: ScanRequest = {
  targets: ['10.0.0.1-4'],
  ipv6: false,
  ports: { tcp: [{ from: 20, to: 29 }, { from: 100, to: 119 }], udp: [] },
  tcpTechnique: 'connect',
  timeoutMs: 10_000,
};

const OPEN: ProbeResult = { state: 'open', reason: 'syn-ack' };
const REFUSED: ProbeResult = { state: 'closed', reason: 'conn-refused' };
const SILENT: ProbeResult = { state: 'filtered', reason: 'no-response' };

async function failureOf(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

describe('ConnectScanner', () => {
  it('lists only open ports, sorted, and marks answering hosts up', async () => {
    const { probe } = scriptedProbes((address, port) => {
      if (address === '10.0.0.2' && (port === 22 || port === 110 || port === 101)) return OPEN;
      return address === '10.0.0.4' ? SILENT : REFUSED;
    });
    const scanner = new ConnectScanner({ probe });

    const outcome = await scanner.scan(request);

    expect(outcome.hosts.map((h) => [h.address, h.state, h.ports.map((p) => p.port)])).toEqual([
      ['10.0.0.1', 'up', []],
      ['10.0.0.2', 'up', [22, 101, 110]],
      ['10.0.0.3', 'up', []],
      ['10.0.0.4', 'unknown', []],
    ]);
    expect(outcome.hosts[1].ports[0]).toEqual({ protocol: 'tcp', port: 22, state: 'open', reason: 'syn-ack' });
    expect(outcome.hosts[0].reason).toBe('conn-refused');
    expect([outcome.hostsUp, outcome.hostsDown, outcome.hostsTotal]).toEqual([3, 1, 4]);
    expect(outcome.engine).toBe('connect');
    expect(outcome.engineVersion).toBe('portolan-connect/1');
    expect(outcome.args).toEqual(['-sT', '-p', 'T:20-29,100-119', '10.0.0.1-4']);
  });

  it('never reports a host whose probes all went unanswered as having closed ports', async () => {
    const { probe } = scriptedProbes(() => SILENT);
    const outcome = await new ConnectScanner({ probe }).scan(request);
    expect(outcome.hosts.every((h) => h.state === 'unknown' && h.ports.length === 0)).toBe(true);
    expect(outcome.hostsUp).toBe(0);
  });

  it('probes every port of every host exactly once within the global and per-host limits', async () => {
    const { probe, stats } = scriptedProbes(() => REFUSED, 3);
    const scanner = new ConnectScanner({ probe, concurrency: 8, perHostConcurrency: 3 });

    await scanner.scan(request);

    expect(stats.started).toBe(4 * 30);
    expect(stats.seen.size).toBe(4 * 30);
    expect(stats.maxInFlight).toBe(8);
    expect(stats.maxPerHost).toBe(3);
  });

  it('reports progress ending at 100% with every host done', async () => {
    const { probe } = scriptedProbes(() => REFUSED, 5);
    const progress: ScanProgress[] = [];
    await new ConnectScanner({ probe, concurrency: 4, progressIntervalMs: 20 }).scan(request, (p) => progress.push(p));

    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toEqual({ percent: 100, task: 'Connect Scan', hostsDone: 4 });
    const percents = progress.map((p) => p.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
  });

  it('starts no more than maxRate connects a second, whatever its concurrency', async () => {
    const starts: number[] = [];
    const { probe } = scriptedProbes(() => {
      starts.push(performance.now());
      return REFUSED;
    }, 1);
    const outcome = await new ConnectScanner({ probe, concurrency: 64 }).scan({ ...request, targets: ['127.0.0.1'], maxRate: 250 });

    expect(starts).toHaveLength(30);
    // One each 4 ms at most: the n-th no sooner than n gaps after the first (timers fire late, never early).
    starts.forEach((at, n) => expect(at - starts[0]).toBeGreaterThanOrEqual(n * 4 - 1));
    expect(outcome.args).toEqual(['-sT', '-p', 'T:20-29,100-119', '--max-rate', '250', '127.0.0.1']);
  });

  it('refuses a maxRate that is not a pace, naming it', async () => {
    // Scripted probes: a refusal that came too late would still connect to nothing.
    const { probe, stats } = scriptedProbes(() => REFUSED);
    for (const maxRate of [0, -5, Number.NaN, 2_000_000]) {
      const error = await failureOf(new ConnectScanner({ probe }).scan({ ...request, targets: ['127.0.0.1'], maxRate }));
      expect(error.code).toBe('invalid_payload');
      expect(error.message).toContain(`maxRate must be a number of probes a second above 0 and at most 1000000, got ${maxRate}`);
    }
    expect(stats.started).toBe(0);
  });

  it('refuses UDP with an engine_unavailable error', async () => {
    const error = await failureOf(new ConnectScanner().scan({ ...request, ports: { tcp: [], udp: [{ from: 53, to: 53 }] } }));
    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toBe('UDP scanning needs nmap, which is not installed on this scanner');
  });

  it('refuses host names and port 0', async () => {
    expect((await failureOf(new ConnectScanner().scan({ ...request, targets: ['db.example.test'] }))).code).toBe('invalid_target');
    const portZero = { ...request, ports: { tcp: [{ from: 0, to: 5 }], udp: [] } };
    expect((await failureOf(new ConnectScanner().scan(portZero))).code).toBe('invalid_port_spec');
  });

  it('stops at the whole-run timeout and cancels what is in flight', async () => {
    const { probe, stats } = scriptedProbes(() => 'hang');
    const error = await failureOf(new ConnectScanner({ probe, concurrency: 16 }).scan({ ...request, timeoutMs: 50 }));
    expect(scanFailureReason(error)).toBe('timeout');
    expect(error.message).toBe('connect scan did not finish within 50 ms and was stopped');
    expect(stats.cancelled).toBe(16);
  });

  it('stops when the signal aborts', async () => {
    const { probe, stats } = scriptedProbes(() => 'hang');
    const controller = new AbortController();
    const scan = new ConnectScanner({ probe, concurrency: 10 }).scan({ ...request, signal: controller.signal });
    controller.abort();
    expect(scanFailureReason(await failureOf(scan))).toBe('cancelled');
    expect(stats.cancelled).toBe(10);
    expect(scanFailureReason(await failureOf(new ConnectScanner({ probe }).scan({ ...request, signal: controller.signal })))).toBe('cancelled');
  });

  it('fails the scan when the machine runs out of sockets instead of reporting ports filtered', async () => {
    const { probe } = scriptedProbes((_, port) => (port === 25 ? 'emfile' : REFUSED));
    expect(scanFailureReason(await failureOf(new ConnectScanner({ probe }).scan(request)))).toBe('local_resources');
  });

  it('gives up on a host after hostTimeoutMs and reports it unknown, not partially scanned', async () => {
    const { probe } = scriptedProbes((address, port) => (address === '10.0.0.3' && port === 20 ? OPEN : REFUSED), 10);
    const scanner = new ConnectScanner({ probe, concurrency: 4, perHostConcurrency: 1 });

    const outcome = await scanner.scan({ ...request, targets: ['10.0.0.3'], hostTimeoutMs: 40 });

    expect(outcome.hosts).toEqual([
      expect.objectContaining({ address: '10.0.0.3', state: 'unknown', reason: 'host-timeout', ports: [] }),
    ]);
  });
});
