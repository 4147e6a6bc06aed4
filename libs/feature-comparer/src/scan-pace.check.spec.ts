import { randomUUID } from 'node:crypto';
import { ScanCompleted } from '@portolan/contracts';
import { paceIgnoredEvent } from './scan-pace.check';

describe('a chunk scanned without its pace', () => {
  const at = new Date('2026-12-07T17:00:00Z');
  const result = (args: string[]): ScanCompleted => ({
    jobId: randomUUID(),
    chunkId: randomUUID(),
    trackerId: randomUUID(),
    deviceId: randomUUID(),
    worker: 'scanner-7',
    engine: 'nmap',
    engineVersion: '7.93',
    args,
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    durationMs: 0,
    coverage: { ports: { tcp: [{ from: 40000, to: 40100 }], udp: [] } },
    hosts: [],
  });

  it('is a scan-pace-ignored event naming the worker, the pace and the chunk, when a paced chunk ran with no --max-rate', () => {
    const unpaced = result(['-sT', '-p', 'T:40000-40100', '127.0.0.5']);
    expect(paceIgnoredEvent({ index: 1, request: { maxRate: 0.5 } }, unpaced, 4, at)).toEqual({
      kind: 'communications',
      deviceId: unpaced.deviceId,
      trackerId: unpaced.trackerId,
      jobId: unpaced.jobId,
      occurredAt: at,
      details: {
        what: 'scan-pace-ignored',
        maxRate: 0.5,
        worker: 'scanner-7',
        engine: 'nmap',
        engineVersion: '7.93',
        applied: null,
        chunk: 2,
        chunks: 4,
        reason: "worker scanner-7 scanned chunk 2/4 without the tracker's pace (maxRate 0.5; its command line has no --max-rate): a worker older than the pace scans at its full speed; upgrade it",
      },
    });
  });

  it('is one too when the command line paces at another rate, or names none', () => {
    expect(paceIgnoredEvent({ index: 0, request: { maxRate: 20 } }, result(['-sT', '--max-rate', '200', '127.0.0.5']), 1, at)?.details).toMatchObject({ applied: '200', reason: expect.stringContaining('its command line has --max-rate 200') });
    expect(paceIgnoredEvent({ index: 0, request: { maxRate: 20 } }, result(['-sT', '--max-rate']), 1, at)?.details).toMatchObject({ applied: null });
  });

  it('is nothing when the pace was applied, or none was asked (no request: an agent\'s run)', () => {
    expect(paceIgnoredEvent({ index: 0, request: { maxRate: 20 } }, result(['-sT', '--max-rate', '20', '127.0.0.5']), 1, at)).toBeUndefined();
    expect(paceIgnoredEvent({ index: 0, request: { maxRate: 0.5 } }, result(['-sT', '--max-rate', '0.5', '127.0.0.5']), 1, at)).toBeUndefined();
    expect(paceIgnoredEvent({ index: 0, request: { targets: ['127.0.0.5'] } }, result(['-sT']), 1, at)).toBeUndefined();
    expect(paceIgnoredEvent({ index: 0, request: null }, result(['-sT']), 1, at)).toBeUndefined();
  });
});
