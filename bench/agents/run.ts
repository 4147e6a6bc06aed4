import { randomBytes } from 'node:crypto';
/**
 * Agent gateway load: 10,000 simulated agents polling every 30 s, and result uploads of 50
 * observations each, against the real gateway (distributed mode: Postgres + NATS JetStream,
 * HTTPS with its self-signed certificate) on loopback, beside a bare Node HTTPS server that
 * answers the same requests from the same client in the same run.
 *
 *   node -r @swc-node/register bench/agents/run.ts [--agents 10000] [--poll-seconds 60]
 *     [--upload-seconds 20] [--concurrency 16,64,128] [--upload-rates 250,1000,2000|none] [--runs 64|none] [--upload-agents 2000] [--held 2000,10000|none]
 *     [--held-seconds 75] [--max-sockets 128] [--profile [--profile-concurrency 32] [--profile-rate 250]] [--keep] [--shared-nats]
 *
 * Phases, each against the gateway and then the bare server (method and figures: bench/RESULTS.md):
 *   A  open loop: every agent polls GET /api/agent/jobs?wait=0 once per 30 s at a random phase
 *      (10,000 agents → 333 polls/s), measured for --poll-seconds after a 31 s warm-up (every agent has polled once);
 *      --poll-seconds 0 skips it (back-to-back comparisons of the upload path).
 *   B  closed loop: C uploaders send gzip result uploads back to back, for each C.
 *   (B, U and R build their uploads before the phase, as agents do on their own hosts: the CPU
 *   window holds the requests only.)
 *   U  open loop: uploads arrive at random (Poisson) at each --upload-rates rate, as a fleet's
 *      scans end, the same arrivals against both servers: CPU a request at the same load.
 *   R  the same as B for whole runs as the agent sends them (--runs C): the scan-start report, then the
 *      result of that job, timed and counted as one run.
 *   C  held long-polls: N agents, one TLS connection each, wait=30, re-polling when answered;
 *      gateway memory and CPU in the steady window.
 * --profile runs setup, then a CPU profile of the gateway during polls, uploads and runs, and stops;
 *   with --profile-rate N, also during open-loop uploads at N a second (where a batch is mostly one upload).
 *
 * Everything listens on and talks to 127.0.0.1 only; every loop and wait is bounded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, TEST_POSTGRES_URL } from '@portolan/persistence';
import { createSelfTrackers, databaseCounters, enrolOne, insertAgents, SetupClient, storedCounts } from './bench.setup';
import { Child, freePort, LoadGenerator, portOpen, ROOT, sleep, startBare, startGateway, startNats } from './bench.processes';
import type { PhaseResult, Target } from './load.protocol';
import { CpuGroup, loadAverage, pidsMatching, round, WindowFigures, WindowSampler } from './proc.stats';
import { ProfileSummary, summariseProfile } from './profile.summary';
import { printReport, verdicts } from './report';

const POLL_PERIOD_S = 30;
const WARMUP_S = 5;
/**
 * Closed-loop uploads built a second of phase before it starts, by target: about twice the most
 * either has answered on these hosts (gateway 2,500/s, bare 10,500/s once its uploads were
 * prepared), so that the window measures requests, not their making. Warm-ups build theirs as
 * they go. The generator builds at most 250,000 before a phase (about 16 s and 0.7 GB).
 */
const PREPARED_PER_SECOND = { gateway: 5_000, bare: 12_000 } as const;
const OBSERVATIONS = 50;

export interface Options {
  agents: number;
  pollSeconds: number;
  uploadSeconds: number;
  concurrency: number[];
  uploadRates: number[];
  runs: number[];
  uploadAgents: number;
  held: number[];
  heldSeconds: number;
  rampSeconds: number;
  maxSockets: number;
  profile: boolean;
  profileConcurrency: number;
  /** --profile-rate: also profile open-loop uploads at this rate (0: not). */
  profileRate: number;
  keep: boolean;
  sharedNats: boolean;
}

function options(argv: string[]): Options {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const n = Number(value(name) ?? fallback);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const list = (name: string, fallback: string, min: number, max: number) => {
    const text = value(name) ?? fallback;
    if (text === 'none') return [];
    const items = text.split(',').map(Number);
    if (!items.length || items.some((n) => !Number.isInteger(n) || n < min || n > max)) throw new Error(`${name} must be a comma-separated list of integers from ${min} to ${max}`);
    return items;
  };
  const agents = int('--agents', 10_000, 10, 15_000);
  return {
    agents,
    pollSeconds: int('--poll-seconds', 60, 0, 600),
    uploadSeconds: int('--upload-seconds', 20, 5, 300),
    concurrency: list('--concurrency', '16,64,128', 1, 512),
    uploadRates: list('--upload-rates', '250,1000,2000', 1, 5_000),
    runs: list('--runs', '64', 1, 512),
    uploadAgents: Math.min(agents, int('--upload-agents', 2_000, 1, 15_000)),
    held: list('--held', '2000,10000', 1, 15_000).map((n) => Math.min(n, agents)),
    heldSeconds: int('--held-seconds', 75, 45, 600),
    rampSeconds: 30,
    maxSockets: int('--max-sockets', 128, 1, 1024),
    profile: argv.includes('--profile'),
    profileConcurrency: int('--profile-concurrency', 32, 1, 512),
    profileRate: int('--profile-rate', 0, 0, 5_000),
    keep: argv.includes('--keep'),
    sharedNats: argv.includes('--shared-nats'),
  };
}

export interface PhaseRecord {
  readonly phase: 'poll' | 'upload' | 'upload-rate' | 'run' | 'held';
  readonly target: 'gateway' | 'bare';
  readonly concurrency?: number;
  /** Open-loop uploads: the rate offered, per second. */
  readonly rate?: number;
  readonly agents?: number;
  readonly load: PhaseResult;
  readonly window: WindowFigures;
  /** Gateway phases: pg_stat_database changes per OK request (transactions, rows). */
  readonly dbPerRequest?: Record<string, number>;
  /** Held phases: RSS (MiB) of the server before the ramp. */
  readonly rssBeforeMiB?: number;
}

interface Stack {
  readonly db: { url: string; name: string; drop: () => Promise<void> };
  readonly dataDir: string;
  readonly nats?: Child;
  readonly gateway: Child;
  readonly bare: Child;
  readonly load: LoadGenerator;
  readonly gatewayTarget: Target;
  readonly bareTarget: Target;
}

function machineFacts(natsBinary: string, postgresVersion: string): Record<string, unknown> {
  const nats = spawnSync(natsBinary, ['--version'], { encoding: 'utf8' });
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
    postgres: postgresVersion,
    nats: (nats.stdout || nats.stderr || '').trim(),
  };
}

async function postgresVersion(): Promise<string> {
  const sql = new Client({ connectionString: TEST_POSTGRES_URL });
  await sql.connect();
  try {
    return String((await sql.query('SHOW server_version')).rows[0].server_version);
  } finally {
    await sql.end();
  }
}

function cpuGroups(stack: Stack): CpuGroup[] {
  const postgresBackground = /postgres: \S+: (walwriter|checkpointer|background writer|autovacuum|logical replication launcher)/;
  return [
    new CpuGroup('gateway', () => [stack.gateway.pid]),
    new CpuGroup('bare', () => [stack.bare.pid]),
    new CpuGroup('loadgen', () => [stack.load.child.pid]),
    new CpuGroup('postgres', () => pidsMatching((cmd) => cmd.startsWith('postgres: ') && cmd.includes(` ${stack.db.name} `))),
    new CpuGroup('postgresShared', () => pidsMatching((cmd) => postgresBackground.test(cmd))),
    new CpuGroup('nats', () => (stack.nats ? [stack.nats.pid] : pidsMatching((cmd) => cmd.startsWith('/usr/sbin/nats-server')))),
  ];
}

/**
 * Samples CPU over a phase: from the moment it is sent, or, for a phase that first prepares its
 * requests (uploads), from its `steady-start` mark to its `steady-end`, so that the window
 * holds only the requests.
 */
async function measured(
  stack: Stack,
  target: 'gateway' | 'bare',
  run: (mark: (kind: 'steady-start' | 'steady-end') => void) => Promise<PhaseResult>,
): Promise<{ load: PhaseResult; window: WindowFigures; dbPerRequest?: Record<string, number> }> {
  // Backends report their counters at most once a second (Postgres 15): let them settle first.
  if (target === 'gateway') await sleep(1_500);
  const before = target === 'gateway' ? await databaseCounters(stack.db.url) : undefined;
  const sample = () => {
    const s = new WindowSampler(cpuGroups(stack), { gateway: stack.gateway.pid, bare: stack.bare.pid });
    s.start();
    return s;
  };
  let sampler = sample();
  let window: WindowFigures | undefined;
  const load = await run((kind) => {
    if (kind === 'steady-start') {
      sampler.stop();
      sampler = sample();
    } else window ??= sampler.stop();
  });
  window ??= sampler.stop();
  let dbPerRequest: Record<string, number> | undefined;
  if (before) {
    await sleep(1_500);
    const after = await databaseCounters(stack.db.url);
    dbPerRequest = Object.fromEntries(Object.keys(after).map((k) => [k, round((after[k] - before[k]) / Math.max(1, load.ok), 2)]));
  }
  return { load, window, dbPerRequest };
}

async function pollPhase(stack: Stack, opts: Options, target: 'gateway' | 'bare'): Promise<PhaseRecord> {
  const t = target === 'gateway' ? stack.gatewayTarget : stack.bareTarget;
  // A fleet in steady state: every agent has polled once (one whole period) before the window,
  // as after the first half minute of a gateway's life.
  const warm = await stack.load.run({ kind: 'poll', target: t, agents: opts.agents, periodSeconds: POLL_PERIOD_S, durationSeconds: POLL_PERIOD_S + 1 }, 90_000);
  if (warm.ok < warm.requests * 0.99) throw new Error(`warm-up polls against ${target} failed: ${JSON.stringify(warm.outcomes)}`);
  const m = await measured(stack, target, () =>
    stack.load.run({ kind: 'poll', target: t, agents: opts.agents, periodSeconds: POLL_PERIOD_S, durationSeconds: opts.pollSeconds }, (opts.pollSeconds + 60) * 1000),
  );
  return { phase: 'poll', target, agents: opts.agents, ...m };
}

/** Uploads back to back at `concurrency`; with `withStart`, whole runs (scan-start report, then the result). */
async function uploadPhase(stack: Stack, opts: Options, target: 'gateway' | 'bare', concurrency: number, warmUp: boolean, withStart = false): Promise<PhaseRecord> {
  const t = target === 'gateway' ? stack.gatewayTarget : stack.bareTarget;
  if (warmUp) {
    const warm = await stack.load.run({ kind: 'upload', target: t, concurrency, durationSeconds: WARMUP_S, maxRequests: 100_000, prepare: 0, ports: OBSERVATIONS, withStart }, 60_000);
    if (warm.ok < warm.requests * 0.99) throw new Error(`warm-up ${withStart ? 'runs' : 'uploads'} against ${target} failed: ${JSON.stringify(warm.outcomes)}`);
  }
  const m = await measured(stack, target, (mark) =>
    stack.load.run({ kind: 'upload', target: t, concurrency, durationSeconds: opts.uploadSeconds, maxRequests: 1_000_000, prepare: opts.uploadSeconds * PREPARED_PER_SECOND[target], ports: OBSERVATIONS, withStart }, (opts.uploadSeconds + 90) * 1000, mark),
  );
  return { phase: withStart ? 'run' : 'upload', target, concurrency, ...m };
}

/** Uploads arriving at random at `rate` a second, whether or not the last ones were answered. */
async function uploadRatePhase(stack: Stack, opts: Options, target: 'gateway' | 'bare', rate: number): Promise<PhaseRecord> {
  const t = target === 'gateway' ? stack.gatewayTarget : stack.bareTarget;
  const m = await measured(stack, target, (mark) =>
    stack.load.run({ kind: 'upload-rate', target: t, ratePerSecond: rate, durationSeconds: opts.uploadSeconds, ports: OBSERVATIONS }, (opts.uploadSeconds + 90) * 1000, mark),
  );
  return { phase: 'upload-rate', target, rate, ...m };
}

async function heldPhase(stack: Stack, opts: Options, target: 'gateway' | 'bare', agents: number): Promise<PhaseRecord> {
  const t = target === 'gateway' ? stack.gatewayTarget : stack.bareTarget;
  const server = target === 'gateway' ? stack.gateway : stack.bare;
  const rssBeforeMiB = round(Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024, 1);
  let sampler: WindowSampler | undefined;
  let window: WindowFigures | undefined;
  const load = await stack.load.run(
    { kind: 'held', target: t, agents, waitSeconds: POLL_PERIOD_S, rampSeconds: opts.rampSeconds, durationSeconds: opts.heldSeconds },
    (opts.heldSeconds + 90) * 1000,
    (kind) => {
      if (kind === 'steady-start') {
        sampler = new WindowSampler(cpuGroups(stack), { gateway: stack.gateway.pid, bare: stack.bare.pid });
        sampler.start();
      } else if (sampler) window = sampler.stop();
    },
  );
  if (!window) throw new Error(`held phase against ${target}: no steady window was reported`);
  // Let the server settle (closed sockets, timers) before the next phase.
  await sleep(3_000);
  return { phase: 'held', target, agents, load, window, rssBeforeMiB };
}

/** Starts the whole stack and creates the fleet; not timed. */
async function setUp(opts: Options, cleanup: (() => Promise<void>)[]): Promise<Stack> {
  const db = await createTestDatabase('portolan_bench_agents');
  const name = new URL(db.url).pathname.slice(1);
  cleanup.push(() => (opts.keep ? Promise.resolve() : db.drop()));
  const dataDir = mkdtempSync(join(tmpdir(), 'portolan-bench-agents-'));
  cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  let nats: Child | undefined;
  let natsUrl = 'nats://127.0.0.1:4222';
  if (!opts.sharedNats) {
    const natsPort = await freePort();
    nats = startNats('/usr/sbin/nats-server', natsPort, join(dataDir, 'nats'));
    cleanup.push(() => nats!.stop());
    await nats.waitUntil('listening', () => portOpen(natsPort), 20_000);
    natsUrl = `nats://127.0.0.1:${natsPort}`;
  }
  const gatewayPort = await freePort();
  const adminToken = `ptop_${randomBytes(32).toString('base64url')}`;
  const profileDir = join(dataDir, 'profiles');
  mkdirSync(profileDir, { recursive: true });
  const gateway = startGateway(
    {
      DATABASE_URL: db.url,
      NATS_URL: natsUrl,
      PORTOLAN_DATA_DIR: join(dataDir, 'hub'),
      PORTOLAN_INSTANCE: 'bench-gateway',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(gatewayPort),
      LOG_LEVEL: 'warn',
      PORTOLAN_ADMIN_TOKEN: adminToken,
      ...(opts.profile ? { BENCH_CPU_PROFILE_DIR: profileDir } : {}),
    },
    opts.profile,
  );
  cleanup.push(() => gateway.stop());
  const certFile = join(dataDir, 'hub', 'tls', 'gateway.crt');
  await gateway.waitUntil('certificate written', () => existsSync(certFile), 120_000);
  await sleep(200);
  const ca = readFileSync(certFile);
  const client = new SetupClient(gatewayPort, ca, adminToken);
  cleanup.push(async () => client.close());
  await gateway.waitUntil('healthy', () => client.json('GET', '/health').then((a) => a.status === 200, () => false), 120_000);
  const barePort = await freePort();
  const bare = startBare(barePort, join(dataDir, 'hub', 'tls', 'gateway.key'), certFile);
  cleanup.push(() => bare.stop());
  await bare.waitUntil('listening', () => bare.log.includes('bare listening'), 30_000);

  const setupStarted = performance.now();
  const enrolled = await enrolOne(client);
  const inserted = await insertAgents(db.url, opts.agents - 1, 1);
  const fleet = [enrolled, ...inserted];
  const uploaders = await createSelfTrackers(client, fleet.slice(0, opts.uploadAgents), 16);
  console.log(`setup: 1 agent enrolled through the API, ${inserted.length} written with SQL, ${uploaders.length} self trackers through the API, in ${round((performance.now() - setupStarted) / 1000, 1)} s`);

  const load = new LoadGenerator();
  cleanup.push(() => load.exit());
  await load.init({ kind: 'init', ca: ca.toString('utf8'), agents: fleet.map((a) => ({ id: a.id, secret: a.secret })), uploaders, maxSockets: opts.maxSockets });
  return { db: { ...db, name }, dataDir, nats, gateway, bare, load, gatewayTarget: { label: 'gateway', port: gatewayPort }, bareTarget: { label: 'bare', port: barePort } };
}

/** --profile: the gateway's CPU profile during polls, then during uploads, then whole runs (C = --profile-concurrency, 32 unless said), then open-loop uploads (--profile-rate). */
async function profileRun(stack: Stack, opts: Options): Promise<Record<string, ProfileSummary & { file: string; ok: number; okPerSecond: number }>> {
  const gatewayProcess = stack.gateway.process;
  const ask = (message: Record<string, string>) =>
    new Promise<{ profile: string; file?: string; error?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the gateway did not answer the profiler command')), 30_000);
      gatewayProcess.once('message', (reply) => {
        clearTimeout(timer);
        resolve(reply as { profile: string; file?: string });
      });
      gatewayProcess.send(message);
    });
  const out: Record<string, ProfileSummary & { file: string; ok: number; okPerSecond: number }> = {};
  // Closed-loop uploads are built as they are sent here: the profile starts before the phase, and would otherwise hold the gateway idle while they are built.
  const phases: [string, () => Promise<PhaseResult>][] = [
    ['polls', () => stack.load.run({ kind: 'poll', target: stack.gatewayTarget, agents: opts.agents, periodSeconds: POLL_PERIOD_S, durationSeconds: 20 }, 90_000)],
    ['uploads', () => stack.load.run({ kind: 'upload', target: stack.gatewayTarget, concurrency: opts.profileConcurrency, durationSeconds: 15, maxRequests: 1_000_000, prepare: 0, ports: OBSERVATIONS }, 90_000)],
    ['runs', () => stack.load.run({ kind: 'upload', target: stack.gatewayTarget, concurrency: opts.profileConcurrency, durationSeconds: 15, maxRequests: 1_000_000, prepare: 0, ports: OBSERVATIONS, withStart: true }, 90_000)],
  ];
  if (opts.profileRate) phases.push([`uploads-at-${opts.profileRate}`, () => stack.load.run({ kind: 'upload-rate', target: stack.gatewayTarget, ratePerSecond: opts.profileRate, durationSeconds: 15, ports: OBSERVATIONS }, 90_000)]);
  for (const [name, run] of phases) {
    if (name === 'polls') await stack.load.run({ kind: 'poll', target: stack.gatewayTarget, agents: opts.agents, periodSeconds: POLL_PERIOD_S, durationSeconds: POLL_PERIOD_S + 1 }, 90_000);
    else await stack.load.run({ kind: 'upload', target: stack.gatewayTarget, concurrency: 16, durationSeconds: WARMUP_S, maxRequests: 100_000, prepare: 0, ports: OBSERVATIONS }, 60_000);
    await ask({ profile: 'start' });
    const result = await run();
    const stopped = await ask({ profile: 'stop', name });
    if (!stopped.file) throw new Error(`profile ${name} was not written: ${stopped.error}`);
    const file = join(ROOT, 'bench', 'out', `agents-gateway-${name}.cpuprofile`);
    writeFileSync(file, readFileSync(stopped.file));
    out[name] = { ...summariseProfile(file), file: file.slice(ROOT.length + 1), ok: result.ok, okPerSecond: result.okPerSecond };
  }
  return out;
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  const outDir = join(ROOT, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const loadBefore = loadAverage();
  const facts = machineFacts('/usr/sbin/nats-server', await postgresVersion());
  console.log(`machine: ${JSON.stringify(facts)}; load average before ${loadBefore.join(' ')}`);
  const cleanup: (() => Promise<void>)[] = [];
  const runCleanup = async () => {
    for (const step of cleanup.reverse().splice(0)) await step().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
  };
  process.once('SIGINT', () => void runCleanup().then(() => process.exit(130)));
  const started = new Date();
  try {
    const stack = await setUp(opts, cleanup);
    if (opts.profile) {
      const profiles = await profileRun(stack, opts);
      console.log(JSON.stringify(profiles, null, 2));
      writeFileSync(join(outDir, 'agents-profile.json'), `${JSON.stringify({ startedAt: started.toISOString(), machine: facts, options: opts, profiles }, null, 2)}\n`);
      return;
    }
    const phases: PhaseRecord[] = [];
    const note = (record: PhaseRecord) => {
      phases.push(record);
      const l = record.load;
      console.log(
        `${record.phase} ${record.target}${record.concurrency ? ` C=${record.concurrency}` : ''}${record.rate ? ` at ${record.rate}/s` : ''}${record.phase === 'held' ? ` N=${record.agents}` : ''}: ` +
          `${l.ok}/${l.requests} ok, ${l.okPerSecond}/s, p50 ${l.latencyMs.p50} p99 ${l.latencyMs.p99} max ${l.latencyMs.max} ms, ` +
          `server CPU ${record.window.cpu[record.target].percentOfCore}% of a core, outcomes ${JSON.stringify(l.outcomes)}` +
          (l.builtDuring ? `, ${l.builtDuring} uploads built during the phase (past the prepared ones)` : ''),
      );
    };
    if (opts.pollSeconds) for (const target of ['gateway', 'bare'] as const) note(await pollPhase(stack, opts, target));
    for (const [i, c] of opts.concurrency.entries()) for (const target of ['gateway', 'bare'] as const) note(await uploadPhase(stack, opts, target, c, i === 0));
    for (const rate of opts.uploadRates) for (const target of ['gateway', 'bare'] as const) note(await uploadRatePhase(stack, opts, target, rate));
    for (const c of opts.runs) for (const target of ['gateway', 'bare'] as const) note(await uploadPhase(stack, opts, target, c, true, true));
    for (const n of opts.held) for (const target of ['gateway', 'bare'] as const) note(await heldPhase(stack, opts, target, n));
    const stored = await storedCounts(stack.db.url);
    const loadAfter = loadAverage();
    const gatewayWarnings = stack.gateway.log.split('\n').filter((line) => line.trim()).length;
    const results = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: facts,
      loadAverage: { before: loadBefore, after: loadAfter },
      options: opts,
      method: {
        pollPeriodSeconds: POLL_PERIOD_S,
        observationsPerUpload: OBSERVATIONS,
        warmupSeconds: WARMUP_S,
        nats: opts.sharedNats ? 'shared nats-server on 127.0.0.1:4222' : 'private nats-server (JetStream, file store in a temp dir) on a free 127.0.0.1 port',
      },
      stored,
      gatewayLogLines: gatewayWarnings,
      gatewayLogTail: stack.gateway.log.slice(-2000),
      phases,
      verdicts: verdicts(phases),
    };
    writeFileSync(join(outDir, 'agents-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    printReport(results);
  } finally {
    await runCleanup();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
