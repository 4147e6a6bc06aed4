/**
 * Idle memory of the bundled agent (dist/agent/portolan-agent.js on plain node, no
 * node_modules), against the 80 MB target and a bare node process as the reference.
 *
 *   node -r @swc-node/register bench/agent-memory/run.ts [--seconds 150] [--bundle FILE] [--rebuild] [--trace-gc]
 *
 * Starts the all-in-one hub (HTTPS with its self-signed certificate, PGlite in a temp dir) on a
 * free 127.0.0.1 port, creates an enrolment token, starts the bundled agent pinned to the hub's
 * certificate, gives the agent's device a self tracker (TCP 40000-40100, every 30 s), waits for
 * the first run, then samples VmRSS of the agent and of `node -e "setInterval(()=>{},1000)"` once
 * a second for the window. The agent meanwhile long-polls the hub and lists its own sockets with
 * ss every 30 s; the ss child's memory is its own and not counted. MB here means MiB (VmRSS is
 * given in KiB), as in the diff bench. Everything talks to 127.0.0.1 only, and every wait is
 * bounded. --trace-gc runs the agent with node's --trace-gc and reports its heap after each full
 * (mark-compact) collection; at the end of the window it has the agent write a heap snapshot
 * (--heapsnapshot-signal), which first collects all garbage, so the last figure is the live heap:
 * that tells a heap that grows from garbage V8 has not collected yet.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const DEFAULT_BUNDLE = join(ROOT, 'dist', 'agent', 'portolan-agent.js');
const TARGET_MB = 80;
const TRACKER_EVERY_S = 30;

interface Options {
  seconds: number;
  bundle: string;
  rebuild: boolean;
  traceGc: boolean;
}

function options(argv: string[]): Options {
  const value = (name: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const seconds = Number(value('--seconds') ?? 150);
  if (!Number.isInteger(seconds) || seconds < 30 || seconds > 3600) throw new Error('--seconds must be an integer from 30 to 3600');
  return { seconds, bundle: resolve(value('--bundle') ?? DEFAULT_BUNDLE), rebuild: argv.includes('--rebuild'), traceGc: argv.includes('--trace-gc') };
}

/**
 * A child process whose recent output is kept (bounded) so the bench can wait for log lines; every
 * line is also offered to `onLine` as it arrives, so counts do not depend on what is kept.
 */
class Child {
  private readonly chunks: string[] = [];
  private partial = '';
  private exit?: { code: number | null; signal: NodeJS.Signals | null };
  readonly process: ChildProcess;

  constructor(
    readonly name: string,
    args: string[],
    options: { cwd: string; env: Record<string, string>; onLine?: (line: string) => void },
  ) {
    this.process = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.chunks.push(text);
      if (this.chunks.length > 4000) this.chunks.splice(0, 2000);
      if (!options.onLine) return;
      const lines = (this.partial + text).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    };
    this.process.stdout?.on('data', keep);
    this.process.stderr?.on('data', keep);
    this.process.on('exit', (code, signal) => (this.exit = { code, signal }));
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error(`${this.name} did not start`);
    return this.process.pid;
  }

  get log(): string {
    return this.chunks.join('');
  }

  get exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exit;
  }

  async waitFor(what: string, test: (log: string) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this.log)) {
      if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${what}:\n${this.log.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms:\n${this.log.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit and how long it took. */
  async stop(graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    const started = Date.now();
    if (!this.exit) {
      const exited = new Promise((done) => this.process.once('exit', done));
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    return { ...this.exit!, ms: Date.now() - started };
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no free port'))));
    });
  });
}

/** A JSON call to the hub's REST API over HTTPS, trusting exactly the hub's own certificate. */
function api<T>(base: string, ca: Buffer, method: 'GET' | 'POST', path: string, body: unknown, operatorToken: string): Promise<{ status: number; body: T }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((done, fail) => {
    const req = request(
      new URL(`${base}${path}`),
      { method, ca, timeout: 30_000, headers: { authorization: `Bearer ${operatorToken}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          try {
            done({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
          } catch (error) {
            fail(error);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', fail);
    req.end(payload);
  });
}

/** VmRSS and VmHWM (KiB) and the RSS split, from /proc/<pid>/status; undefined once the process is gone. */
function memoryOf(pid: number): Record<'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile', number> | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { VmRSS: field('VmRSS'), VmHWM: field('VmHWM'), RssAnon: field('RssAnon'), RssFile: field('RssFile') };
}

/** User + system CPU seconds of a process, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

const mb = (kib: number) => kib / 1024;
/** Median RSS (MB) of each full minute of one-second samples. */
const perMinute = (samples: number[]) => Array.from({ length: Math.floor(samples.length / 60) }, (_, i) => mb(median(samples.slice(i * 60, i * 60 + 60))));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

interface Row {
  label: string;
  samples: number;
  medianMb: number;
  maxMb: number;
  hwmMb: number;
  anonMb: number;
  fileMb: number;
  cpuS: number;
}

function summarize(label: string, samples: number[], last: NonNullable<ReturnType<typeof memoryOf>>, cpuS: number): Row {
  return { label, samples: samples.length, medianMb: mb(median(samples)), maxMb: mb(Math.max(...samples)), hwmMb: mb(last.VmHWM), anonMb: mb(last.RssAnon), fileMb: mb(last.RssFile), cpuS };
}

/** Has the agent write a heap snapshot (SIGUSR2) into its working directory; returns how long it took (bounded). */
async function heapSnapshot(agent: Child, dir: string): Promise<number | undefined> {
  const snapshots = () => readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
  const started = Date.now();
  agent.process.kill('SIGUSR2');
  let lastSize = -1;
  while (Date.now() - started < 60_000) {
    await sleep(500);
    const [file] = snapshots();
    if (!file) continue;
    const size = statSync(join(dir, file)).size;
    if (size > 0 && size === lastSize) return (Date.now() - started) / 1000;
    lastSize = size;
  }
  return undefined;
}

function tool(command: string, args: string[]): string {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim().split('\n')[0] : 'absent';
}

async function main(): Promise<void> {
  const opts = options(process.argv.slice(2));
  if (opts.rebuild || (opts.bundle === DEFAULT_BUNDLE && !existsSync(opts.bundle))) {
    const build = spawnSync(process.execPath, [join(ROOT, 'tools', 'build', 'build-agent.mjs')], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('the agent build failed');
  }
  if (!existsSync(opts.bundle)) throw new Error(`no bundle at ${opts.bundle}`);

  const work = mkdtempSync(join(tmpdir(), 'portolan-agent-memory-'));
  const agentDir = join(work, 'agent'); // no node_modules anywhere above it: the bundle must stand alone
  mkdirSync(agentDir);
  const baseEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' };
  const children: Child[] = [];
  try {
    const port = await freePort();
    const hub = new Child('hub', ['-r', '@swc-node/register', join(ROOT, 'apps', 'hub', 'src', 'main.ts')], {
      cwd: ROOT,
      env: { ...baseEnv, LOG_LEVEL: 'info', PORTOLAN_DATA_DIR: join(work, 'hub'), GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: String(port) },
    });
    children.push(hub);
    await hub.waitFor('"gateway listening"', (log) => log.includes('gateway listening'), 120_000);
    const fingerprint = /"fingerprint":"([0-9A-F:]{95})"/.exec(hub.log)?.[1];
    if (!fingerprint) throw new Error(`no tls.fingerprint in the hub's "gateway listening" line:\n${hub.log.slice(-2000)}`);
    const base = `https://127.0.0.1:${port}/api`;
    const ca = readFileSync(join(work, 'hub', 'tls', 'gateway.crt'));

    // The hub's first start made an admin token and wrote it here (no PORTOLAN_ADMIN_TOKEN given).
    const adminToken = readFileSync(join(work, 'hub', 'admin.token'), 'utf8').trim();
    const token = await api<{ token: string }>(base, ca, 'POST', '/enrollment-tokens', { name: 'agent-memory-bench', maxUses: 1 }, adminToken);
    if (token.status !== 201) throw new Error(`enrolment token: HTTP ${token.status} ${JSON.stringify(token.body)}`);

    const suffix = `-bench-${process.pid}`;
    const seen = { runs: 0, uploads: 0, warnings: [] as string[], fullGcHeapMb: [] as { atS: number; mb: number }[] };
    const onLine = (line: string) => {
      if (line.includes('"run finished"')) seen.runs += 1;
      else if (line.includes('"result uploaded"')) seen.uploads += 1;
      else if (line.includes('hub unreachable') || line.includes('poll failed')) seen.warnings.push(line);
      // node --trace-gc: "[pid:0x..]   123456 ms: Mark-Compact 10.1 (12.3) -> 9.8 (12.5) MB, ..."
      const gc = /\s(\d+) ms: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/.exec(line);
      if (gc) seen.fullGcHeapMb.push({ atS: Number(gc[1]) / 1000, mb: Number(gc[2]) });
    };
    const agent = new Child('agent', [...(opts.traceGc ? ['--trace-gc', '--heapsnapshot-signal=SIGUSR2'] : []), opts.bundle, 'run'], {
      onLine,
      cwd: agentDir,
      env: {
        ...baseEnv,
        PORTOLAN_HUB_URL: `${base}/`,
        PORTOLAN_ENROL_TOKEN: token.body.token,
        PORTOLAN_HUB_PIN_SHA256: fingerprint,
        PORTOLAN_AGENT_STATE_DIR: join(agentDir, 'state'),
        PORTOLAN_AGENT_NAME_SUFFIX: suffix,
      },
    });
    children.push(agent);
    await agent.waitFor('"agent started"', (log) => log.includes('"agent started"'), 60_000);
    const agents = await api<{ items: { name: string; deviceId: string }[] }>(base, ca, 'GET', '/agents?limit=100', undefined, adminToken);
    const me = agents.body.items.find((a) => a.name.endsWith(suffix));
    if (!me) throw new Error(`the enrolled agent is not in GET /api/agents: ${JSON.stringify(agents.body).slice(0, 1000)}`);
    const tracker = await api<{ id: string }>(base, ca, 'POST', '/trackers', {
      name: 'agent memory bench: own listening ports',
      deviceId: me.deviceId,
      type: 'network-port',
      mode: 'self',
      ports: [{ range: '40000-40100', protocol: 'tcp' }],
      schedule: { kind: 'interval', every: `${TRACKER_EVERY_S}s` },
      sendBaselineEvents: false,
    }, adminToken);
    if (tracker.status !== 201) throw new Error(`tracker: HTTP ${tracker.status} ${JSON.stringify(tracker.body)}`);
    await agent.waitFor('first "result uploaded"', () => seen.uploads >= 1, (TRACKER_EVERY_S + 60) * 1000);

    const reference = new Child('bare node', ['-e', 'setInterval(()=>{},1000)'], { cwd: agentDir, env: baseEnv });
    children.push(reference);
    await sleep(1000);

    process.stdout.write(`sampling for ${opts.seconds} s (agent pid ${agent.pid}, reference pid ${reference.pid})...\n`);
    const runsBefore = seen.runs;
    const uploadsBefore = seen.uploads;
    const cpuBefore = { agent: cpuSecondsOf(agent.pid), reference: cpuSecondsOf(reference.pid) };
    const samples = { agent: [] as number[], reference: [] as number[] };
    let last = { agent: memoryOf(agent.pid)!, reference: memoryOf(reference.pid)! };
    const started = Date.now();
    for (let i = 0; i < opts.seconds; i += 1) {
      await sleep(Math.max(0, started + (i + 1) * 1000 - Date.now()));
      const a = memoryOf(agent.pid);
      const r = memoryOf(reference.pid);
      if (!a || agent.exited) throw new Error(`the agent exited while sampled:\n${agent.log.slice(-3000)}`);
      if (!r) throw new Error('the reference process exited while sampled');
      samples.agent.push(a.VmRSS);
      samples.reference.push(r.VmRSS);
      last = { agent: a, reference: r };
    }
    const rows = [
      summarize('agent bundle (plain node)', samples.agent, last.agent, cpuSecondsOf(agent.pid) - cpuBefore.agent),
      summarize('bare node (setInterval)', samples.reference, last.reference, cpuSecondsOf(reference.pid) - cpuBefore.reference),
    ];
    const runsDuring = seen.runs - runsBefore;
    const uploadsDuring = seen.uploads - uploadsBefore;
    let snapshotS: number | undefined;
    if (opts.traceGc) snapshotS = await heapSnapshot(agent, agentDir);

    // The agent may be inside a long poll (up to pollWaitSeconds = 30 s): give it that and more.
    const agentExit = await agent.stop(45_000);
    await reference.stop();
    await hub.stop();

    const bytes = readFileSync(opts.bundle).length;
    const facts = {
      nproc: availableParallelism(),
      cpu: cpus()[0]?.model ?? 'unknown',
      kernel: release(),
      node: process.version,
      ss: tool('ss', ['-V']),
      bundle: `${opts.bundle.startsWith(ROOT) ? opts.bundle.slice(ROOT.length + 1) : opts.bundle} (${(bytes / 1024).toFixed(0)} KiB)`,
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    };
    const agentRow = rows[0];
    const edge = Math.min(30, Math.floor(opts.seconds / 4));
    const met = agentRow.maxMb < TARGET_MB && agentRow.hwmMb < TARGET_MB;
    const lines = [
      `| process | samples | median RSS | max RSS | peak (VmHWM) | anon / file at end | CPU in window |`,
      `|---|---|---|---|---|---|---|`,
      ...rows.map((r) => `| ${r.label} | ${r.samples} | ${r.medianMb.toFixed(1)} MB | ${r.maxMb.toFixed(1)} MB | ${r.hwmMb.toFixed(1)} MB | ${r.anonMb.toFixed(1)} / ${r.fileMb.toFixed(1)} MB | ${r.cpuS.toFixed(2)} s |`),
      '',
      `Agent over bare node: median +${(agentRow.medianMb - rows[1].medianMb).toFixed(1)} MB, peak +${(agentRow.hwmMb - rows[1].hwmMb).toFixed(1)} MB.`,
      `Drift: the agent's median RSS over the first ${edge} s was ${mb(median(samples.agent.slice(0, edge))).toFixed(1)} MB, over the last ${edge} s ${mb(median(samples.agent.slice(-edge))).toFixed(1)} MB.`,
      `Per minute (median RSS, MB): ${perMinute(samples.agent).map((v) => v.toFixed(1)).join(' ')}.`,
      ...(opts.traceGc
        ? [
            // node writes --trace-gc lines through a buffered stdout; they are complete once the agent has exited.
            `Heap after each full GC since the agent started (MB @ s since start): ${seen.fullGcHeapMb.map((g) => `${g.mb.toFixed(1)}@${g.atS.toFixed(0)}`).join(' ') || 'none'}` +
              `${snapshotS === undefined ? '' : `; the heap snapshot at the end of the window (written in ${snapshotS.toFixed(1)} s) collects all garbage first, so the last figures are the live heap`}.`,
          ]
        : []),
      `In the ${opts.seconds} s window the agent ran ${runsDuring} self scans and uploaded ${uploadsDuring} results; poll warnings in its whole log: ${seen.warnings.length}.`,
      `On SIGTERM the agent exited ${agentExit.signal ? `by ${agentExit.signal}` : `with code ${agentExit.code}`} after ${(agentExit.ms / 1000).toFixed(1)} s.`,
      `Target: under ${TARGET_MB} MB: ${met ? 'MET' : 'NOT MET'} (max RSS ${agentRow.maxMb.toFixed(1)} MB, peak ${agentRow.hwmMb.toFixed(1)} MB).`,
      `Machine: ${facts.nproc} CPUs (${facts.cpu}), Linux ${facts.kernel}, Node ${facts.node}, ${facts.ss}; ${facts.bundle}; ${facts.date}.`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (seen.warnings.length > 0) process.stdout.write(`note: the agent logged poll warnings:\n${seen.warnings.slice(0, 5).join('\n')}\n`);
    if (agentExit.code !== 0) process.exitCode = 1;
  } finally {
    await Promise.all(children.map((child) => child.stop().catch(() => undefined)));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`agent memory bench failed: ${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
