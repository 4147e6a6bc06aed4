import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { ScanCompleted } from '@portolan/contracts';
import { splitResult } from './result.splitter';

const result = (hosts: ScanCompleted['hosts']): Omit<ScanCompleted, 'scanId' | 'part'> => ({
  jobId: randomUUID(),
  chunkId: randomUUID(),
  trackerId: randomUUID(),
  deviceId: randomUUID(),
  worker: 'w',
  engine: 'nmap',
  engineVersion: '7.93',
  args: ['-sT'],
  startedAt: new Date().toISOString(),
  finishedAt: new Date().toISOString(),
  durationMs: 1,
  coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
  hosts,
});
const host = (n: number, open: number): ScanCompleted['hosts'][number] => ({
  address: `127.0.${n >> 8}.${n & 255}`,
  hostnames: [],
  state: 'up',
  ports: Array.from({ length: open }, (_, i) => ({ protocol: 'tcp' as const, port: i + 1, state: 'open' as const, service: 'http' })),
});

describe('splitResult', () => {
  it('keeps a small result in one part', () => {
    const parts = splitResult(result([host(1, 3)]), randomUUID(), 512 * 1024);
    expect(parts).toHaveLength(1);
    expect(parts[0].part).toEqual({ index: 0, count: 1 });
  });

  it('splits by whole hosts, every part under the limit, nothing lost or repeated', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 80 }), fc.integer({ min: 8_000, max: 40_000 }), (opens, limit) => {
        const hosts = opens.map((open, i) => host(i, open));
        const parts = splitResult(result(hosts), randomUUID(), limit);
        for (const part of parts) expect(Buffer.byteLength(JSON.stringify(part)) + 512).toBeLessThanOrEqual(limit);
        expect(parts.flatMap((p) => p.hosts.map((h) => h.address))).toEqual(hosts.map((h) => h.address));
        expect(parts.map((p) => p.part)).toEqual(parts.map((_, index) => ({ index, count: parts.length })));
      }),
      { numRuns: 100 },
    );
  });

  it('names a host whose result alone is too large for a message', () => {
    expect(() => splitResult(result([host(7, 5000)]), randomUUID(), 64 * 1024)).toThrow(/host 127\.0\.0\.7 \(5000 open ports\) exceeds the message size limit/);
  });
});
