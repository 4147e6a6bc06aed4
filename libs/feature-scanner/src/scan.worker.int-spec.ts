import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:net';
import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Bus, Outcomes } from '@portolan/bus';
import { loadPlatformConfig } from '@portolan/config';
import { Messages, ScanCompleted, ScanFailed, ScanRequested } from '@portolan/contracts';
import { BUS, PlatformModule } from '@portolan/platform';
import { ScannerModule } from './scanner.module';

/** A scanner worker fed through the in-process bus (PGlite in memory), with each engine. */
describe.each([
  ['nmap', 'nmap'],
  ['the built-in connect scanner (no nmap installed)', 'connect'],
] as const)('ScanWorker with %s', (_name, engine) => {
  let app: INestApplicationContext;
  let bus: Bus;
  let listener: Server;
  const completed: ScanCompleted[] = [];
  const failed: ScanFailed[] = [];

  beforeAll(async () => {
    listener = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => listener.listen(40077, '127.0.0.41', resolve));
    const config = loadPlatformConfig({ PORTOLAN_DATA_DIR: 'memory://', LOG_LEVEL: 'silent', PORTOLAN_SCOPE_ALLOW: '127.0.0.40/29' });
    @Module({ imports: [PlatformModule.forRoot({ service: 'scanner-test', version: 'test', config }), ScannerModule.forRoot({ site: 'lab', engine })] })
    class TestModule {}
    app = await NestFactory.createApplicationContext(TestModule, { logger: false });
    bus = app.get(BUS);
    await bus.consume({ message: Messages.scanCompleted, durable: 'test-results' }, async (d) => (completed.push(d.envelope.payload), Outcomes.ack()));
    await bus.consume({ message: Messages.scanFailed, durable: 'test-failures' }, async (d) => (failed.push(d.envelope.payload), Outcomes.ack()));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await new Promise((resolve) => listener.close(resolve));
  });

  const job = (targets: string[]): ScanRequested => ({
    jobId: randomUUID(),
    chunkId: randomUUID(),
    chunkIndex: 0,
    chunkCount: 1,
    trackerId: randomUUID(),
    deviceId: randomUUID(),
    site: 'lab',
    targets,
    ipv6: false,
    hostNames: {},
    hostCount: 2,
    ports: { tcp: [{ from: 40070, to: 40080 }], udp: [] },
    tcpTechnique: 'auto',
    skipHostDiscovery: false,
    timeoutMs: 60_000,
    deadline: new Date(Date.now() + 120_000).toISOString(),
  });

  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 300 && !condition(); i += 1) await new Promise((r) => setTimeout(r, 50));
  };

  it('scans its site jobs and publishes the complete observation set', async () => {
    const request = job(['127.0.0.41-42']);
    await bus.publish(Messages.scanRequested, request, { route: 'lab' });
    await until(() => completed.some((c) => c.chunkId === request.chunkId));
    const result = completed.find((c) => c.chunkId === request.chunkId);
    expect(result).toMatchObject({ engine, coverage: { ports: request.ports }, part: { index: 0, count: 1 } });
    const open = result?.hosts.flatMap((h) => h.ports.filter((p) => p.state === 'open').map((p) => `${h.address}:${p.port}`));
    expect(open).toEqual(['127.0.0.41:40077']);
  }, 30_000);

  it('scans UDP with nmap, and says clearly that it needs nmap otherwise', async () => {
    const request = { ...job(['127.0.0.41']), ports: { tcp: [], udp: [{ from: 40070, to: 40071 }] } };
    await bus.publish(Messages.scanRequested, request, { route: 'lab' });
    await until(() => [...completed, ...failed].some((r) => r.chunkId === request.chunkId));
    if (engine === 'nmap') expect(completed.some((c) => c.chunkId === request.chunkId)).toBe(true);
    else expect(failed.find((f) => f.chunkId === request.chunkId)?.error.message).toBe('UDP scanning needs nmap, which is not installed on this scanner');
  }, 30_000);

  it('takes paced chunks (version 2) too, keeps to their pace, and runs one scan at a time over both versions', async () => {
    const paced = { ...job(['127.0.0.41-42']), maxRate: 20 };
    const unpaced = job(['127.0.0.41-42']);
    await bus.publish(Messages.scanRequestedV2, paced, { route: 'lab' });
    await bus.publish(Messages.scanRequested, unpaced, { route: 'lab' });
    await until(() => [paced, unpaced].every((r) => completed.some((c) => c.chunkId === r.chunkId)));
    const [slow, fast] = [paced, unpaced].map((r) => completed.find((c) => c.chunkId === r.chunkId));
    expect(slow?.args.join(' ')).toContain('--max-rate 20');
    expect(fast?.args).not.toContain('--max-rate');
    expect(slow?.hosts.flatMap((h) => h.ports.filter((p) => p.state === 'open').map((p) => `${h.address}:${p.port}`))).toEqual(['127.0.0.41:40077']);
    // SCANNER_CONCURRENCY is 1: the chunk that came second waited for the first, whichever consumer each came from.
    const spans = [slow, fast].map((c) => [Date.parse(String(c?.startedAt)), Date.parse(String(c?.finishedAt))]).sort((a, b) => a[0] - b[0]);
    expect(spans[1][0]).toBeGreaterThanOrEqual(spans[0][1]);
  }, 30_000);

  it('refuses a job outside its own scope guard without scanning', async () => {
    const request = job(['127.0.0.41', '127.0.0.99']);
    await bus.publish(Messages.scanRequested, request, { route: 'lab' });
    await until(() => failed.some((f) => f.chunkId === request.chunkId));
    expect(failed.find((f) => f.chunkId === request.chunkId)?.error).toMatchObject({ code: 'out_of_scope', message: expect.stringMatching(/127\.0\.0\.99 is outside the allowed scope/) });
    expect(completed.some((c) => c.chunkId === request.chunkId)).toBe(false);
  }, 30_000);
});
