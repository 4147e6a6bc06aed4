/**
 * Real scans, on loopback only: listeners on 127.0.0.2-4 (and ::1) on ports this file opens in
 * 40000-40100, scanned with nmap -sT, nmap -sS (root) and the built-in connect scanner.
 */
import { DomainError } from '@portolan/contracts/errors';
import { ConnectScanner } from './connect.scanner';
import { detectNmap } from './nmap.detector';
import type { NmapBinary } from './nmap.detector';
import { NmapEngine } from './nmap.engine';
import { scanFailureReason } from './scan-failure';
import type { ScanEngine, ScanOutcome } from './scan-outcome';
import type { ScanRequest, TcpTechnique } from './scan-request';
import { openLoopbackListeners } from './test/loopback-listeners';
import type { LoopbackListeners } from './test/loopback-listeners';

jest.setTimeout(30_000);

const RANGE = { from: 40000, to: 40100 };
const request: ScanRequest = {
  targets: ['127.0.0.2-4'],
  ipv6: false,
  ports: { tcp: [RANGE], udp: [] },
  tcpTechnique: 'connect',
  timeoutMs: 20_000,
};

let listeners: LoopbackListeners;
let ipv6Listeners: LoopbackListeners;
let binary: NmapBinary | null;

beforeAll(async () => {
  binary = await detectNmap();
  listeners = await openLoopbackListeners(
    [
      { address: '127.0.0.2', count: 2 },
      { address: '127.0.0.3', count: 1 },
      { address: '127.0.0.4', count: 3 },
    ],
    RANGE,
  );
  ipv6Listeners = await openLoopbackListeners([{ address: '::1', count: 2 }], RANGE);
});

afterAll(async () => {
  await listeners?.close();
  await ipv6Listeners?.close();
});

function openPortsByHost(outcome: ScanOutcome): Map<string, number[]> {
  return new Map(
    outcome.hosts.map((host) => [host.address, host.ports.filter((p) => p.state === 'open').map((p) => p.port)]),
  );
}

async function failureOf(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof DomainError)) throw new Error(`expected a DomainError, got ${String(error)}`);
  return error;
}

function nmapEngine(): NmapEngine {
  if (binary === null) throw new Error('nmap is not installed: apt-get install -y nmap');
  return new NmapEngine(binary);
}

type EngineCase = [label: string, makeEngine: () => ScanEngine, tcpTechnique: TcpTechnique];
const engineCases: EngineCase[] = [
  ['nmap -sT', () => nmapEngine(), 'connect'],
  ['built-in connect scanner', () => new ConnectScanner(), 'connect'],
];
// -sS needs raw sockets; the case is left out (not faked) when the tests do not run as root.
if (process.getuid?.() === 0) engineCases.splice(1, 0, ['nmap -sS', () => nmapEngine(), 'syn']);

describe.each(engineCases)('%s on 127.0.0.2-4', (_label, makeEngine, tcpTechnique) => {
  it('finds exactly the ports opened on each host, all three hosts up', async () => {
    const outcome = await makeEngine().scan({ ...request, tcpTechnique });

    expect(openPortsByHost(outcome)).toEqual(listeners.ports);
    expect(outcome.hosts.every((host) => host.state === 'up')).toBe(true);
    expect([outcome.hostsUp, outcome.hostsTotal]).toEqual([3, 3]);
    expect(outcome.hosts[0].ports[0].reason).toBe('syn-ack');
  });

  it('finds the ports opened on ::1 in an IPv6 scan', async () => {
    const outcome = await makeEngine().scan({ ...request, tcpTechnique, targets: ['::1'], ipv6: true });
    expect(openPortsByHost(outcome)).toEqual(ipv6Listeners.ports);
  });
});

describe('nmap failure handling on loopback', () => {
  it('reports nmap version and exact args', async () => {
    const outcome = await nmapEngine().scan(request);
    expect(outcome.engineVersion).toBe(binary?.version);
    expect(outcome.args).toEqual(['-oX', '-', '--stats-every', '2s', '-n', '--max-retries', '2', '-sT', '-p', 'T:40000-40100', '127.0.0.2-4']);
  });

  it('rejects a run where no target resolves instead of reporting zero hosts', async () => {
    const error = await failureOf(nmapEngine().scan({ ...request, targets: ['no-such-host.invalid'] }));
    expect(scanFailureReason(error)).toBe('no_hosts');
    expect(error.message).toMatch(/nmap scanned 0 hosts.*no-such-host\.invalid/);
  });

  it('stops nmap and rejects when the run outlives timeoutMs', async () => {
    const error = await failureOf(nmapEngine().scan({ ...request, timeoutMs: 5 }));
    expect(scanFailureReason(error)).toBe('timeout');
  });

  it('stops nmap and rejects when cancelled', async () => {
    const controller = new AbortController();
    const scan = nmapEngine().scan({ ...request, signal: controller.signal });
    setImmediate(() => controller.abort());
    expect(scanFailureReason(await failureOf(scan))).toBe('cancelled');
  });
});

describe('built-in connect scanner cancellation on loopback', () => {
  it('rejects when cancelled mid-scan', async () => {
    const controller = new AbortController();
    const scan = new ConnectScanner().scan({ ...request, signal: controller.signal });
    controller.abort();
    expect(scanFailureReason(await failureOf(scan))).toBe('cancelled');
  });
});
