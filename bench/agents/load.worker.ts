/**
 * The load generator: its own process, forked by run.ts, so its CPU is neither the gateway's
 * nor the orchestrator's. It drives one phase at a time against 127.0.0.1 over HTTPS (the
 * gateway's certificate as the only CA) with node's https client and keep-alive agents, and
 * answers each phase with its figures. Every loop is bounded in time and in count.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { LatencyRecorder } from './latency.recorder';
import { BENCH_AGENT, type AgentIdentity, type LoadCommand, type LoadReply, type PhaseResult, type Target, type UploadIdentity } from './load.protocol';

const MAX_SAMPLES = 2_000_000;
const SHORT_TIMEOUT_MS = 10_000;
const DRAIN_MS = 15_000;
/** Most uploads a phase builds before it starts: about 16 s of this process's CPU and 0.7 GB. */
const MAX_PREPARED = 250_000;

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

let ca = '';
let agents: readonly AgentIdentity[] = [];
let uploaders: readonly UploadIdentity[] = [];
let maxSockets = 128;
const boots = new Map<string, string>();

function send(reply: LoadReply): void {
  process.send?.(reply);
}

/** One HTTPS request; resolves with the answer or rejects with a short error code. */
function call(agent: Agent, target: Target, method: 'GET' | 'POST', path: string, headers: Record<string, string | number>, body: Buffer | undefined, timeoutMs: number, onSocket: (socket: Socket) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: target.port, method, path, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? 'response-error')));
    });
    req.on('socket', onSocket);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
    req.end(body);
  });
}

/** Counts the TLS connections a phase opens (a socket is new the first time a request gets it). */
function socketCounter(): { onSocket: (socket: Socket) => void; readonly opened: number } {
  const seen = new WeakSet<Socket>();
  let opened = 0;
  return {
    onSocket: (socket) => {
      if (seen.has(socket)) return;
      seen.add(socket);
      opened += 1;
    },
    get opened() {
      return opened;
    },
  };
}

function auth(agent: AgentIdentity): string {
  return `Bearer ${agent.id}.${agent.secret}`;
}

/** What every call of an agent carries: its credentials and its clock (as the agent program sends them). */
function agentHeaders(agent: AgentIdentity): { authorization: string; 'x-portolan-agent-time': string } {
  return { authorization: auth(agent), 'x-portolan-agent-time': String(Date.now()) };
}

/** Headers built ahead of a phase, with the agent's clock as the call leaves. */
function stamped(headers: Readonly<Record<string, string | number>>): Record<string, string | number> {
  return { ...headers, 'x-portolan-agent-time': String(Date.now()) };
}

function pollPath(agent: AgentIdentity, wait: number): string {
  let boot = boots.get(agent.id);
  if (!boot) boots.set(agent.id, (boot = randomUUID()));
  return `/api/agent/jobs?wait=${wait}&boot=${boot}&version=${BENCH_AGENT.version}&features=${BENCH_AGENT.features.join(',')}&spoolEntries=0&spoolDropped=0`;
}

function outcomeOf(answer: Answer, expected: number): { outcome: string; ok: boolean } {
  if (answer.status !== expected) return { outcome: `http-${answer.status}`, ok: false };
  try {
    JSON.parse(answer.body.toString('utf8'));
  } catch {
    return { outcome: 'bad-json', ok: false };
  }
  return { outcome: `http-${answer.status}`, ok: true };
}

/** Records a request's outcome (its status as `expected` and a JSON body, or its error) and its latency from `since`. */
function recordAnswer(recorder: LatencyRecorder, answer: Promise<Answer>, expected: number, since: number): Promise<void> {
  return answer.then(
    (a) => {
      const { outcome, ok } = outcomeOf(a, expected);
      recorder.record(outcome, performance.now() - since, ok);
    },
    (error: Error) => recorder.record(error.message, performance.now() - since, false),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until nothing is in flight; returns how many were still unanswered. */
async function drain(inFlight: () => number, ms: number): Promise<number> {
  const deadline = performance.now() + ms;
  while (inFlight() > 0 && performance.now() < deadline) await sleep(10);
  return inFlight();
}

/**
 * Fires `fire(i)` at `start + times[i]` (milliseconds, ascending) until the schedule or
 * `durationMs` (plus 5 s of slack) runs out, then waits (bounded) for what is in flight.
 * Returns how late each was fired against its schedule and how many were never answered.
 */
async function openLoop(times: readonly number[], durationMs: number, fire: (i: number, due: number) => Promise<void>): Promise<{ start: number; lags: LatencyRecorder; unanswered: number }> {
  const lags = new LatencyRecorder(MAX_SAMPLES);
  let inFlight = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let next = 0;
    const pump = () => {
      const now = performance.now() - start;
      while (next < times.length && times[next] <= now) {
        const due = start + times[next];
        lags.record('sent', performance.now() - due, true);
        inFlight += 1;
        void fire(next++, due).finally(() => (inFlight -= 1));
      }
      if (next >= times.length || now > durationMs + 5_000) return resolve();
      setTimeout(pump, Math.max(0, Math.min(20, times[next] - now)));
    };
    pump();
  });
  return { start, lags, unanswered: await drain(() => inFlight, DRAIN_MS) };
}

async function openLoopPolls(command: Extract<LoadCommand, { kind: 'poll' }>): Promise<PhaseResult> {
  const count = Math.min(command.agents, agents.length);
  const periodMs = command.periodSeconds * 1000;
  const durationMs = command.durationSeconds * 1000;
  // Each agent polls at its own random phase in the period, each poll jittered by up to ±1 %.
  const schedule: { at: number; agent: number }[] = [];
  for (let a = 0; a < count; a++) {
    const phase = Math.random() * periodMs;
    for (let at = phase; at < durationMs; at += periodMs) schedule.push({ at: Math.max(0, at + (Math.random() - 0.5) * 0.02 * periodMs), agent: a });
  }
  schedule.sort((x, y) => x.at - y.at);
  const agent = new Agent({ keepAlive: true, maxSockets, ca, scheduling: 'lifo' });
  const sockets = socketCounter();
  const recorder = new LatencyRecorder(MAX_SAMPLES);
  const { start, lags, unanswered } = await openLoop(
    schedule.map((e) => e.at),
    durationMs,
    (i, due) => {
      const identity = agents[schedule[i].agent];
      return recordAnswer(recorder, call(agent, command.target, 'GET', pollPath(identity, 0), agentHeaders(identity), undefined, SHORT_TIMEOUT_MS, sockets.onSocket), 200, due);
    },
  );
  agent.destroy();
  return openLoopFigures(recorder, { start, lags, unanswered }, sockets.opened, command.durationSeconds);
}

/** The ports of every simulated self-scan: 50 open TCP sockets spread over the range. */
function observedPorts(count: number): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({ protocol: 'tcp', port: 1000 + i * 997, state: 'open', bindAddress: '0.0.0.0', process: 'svc', pid: 123 }));
}

function uploadBody(trackerId: string, ports: readonly Record<string, unknown>[], jobId = randomUUID(), startedAt = new Date(Date.now() - 1_000)): { json: number; gzip: Buffer } {
  const finished = Date.now();
  const json = JSON.stringify({
    jobId,
    trackerId,
    trigger: 'schedule',
    status: 'completed',
    engine: 'ss',
    engineVersion: 'ss-bench',
    args: ['-tulpnH'],
    startedAt: startedAt.toISOString(),
    finishedAt: new Date(finished).toISOString(),
    coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
    hosts: [{ address: 'bench', hostnames: [], state: 'up', ports }],
  });
  // A copy: gzipSync's answer is a view of its 16 KiB output chunk, which kept 3 GB alive for 200,000 prepared uploads.
  return { json: json.length, gzip: Buffer.from(gzipSync(json)) };
}

/** One result upload of an agent's self-scan, as the agent sends it: gzip body and headers, and the run it reports. */
interface PreparedUpload {
  readonly identity: UploadIdentity;
  readonly jobId: string;
  readonly startedAt: Date;
  readonly body: Buffer;
  readonly headers: Record<string, string | number>;
}

function prepareUpload(identity: UploadIdentity, ports: readonly Record<string, unknown>[]): PreparedUpload {
  const jobId = randomUUID();
  const startedAt = new Date(Date.now() - 1_000);
  const body = uploadBody(identity.trackerId, ports, jobId, startedAt).gzip;
  return {
    identity,
    jobId,
    startedAt,
    body,
    // Stamped with the agent's clock when sent (`stamped`), as the agent program does.
    headers: { authorization: auth(identity), 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length, 'idempotency-key': `bench-${randomUUID()}` },
  };
}

/**
 * A phase's uploads, the first `count` built before it starts (each a new run: its own job, key
 * and gzip body), round-robin over the upload agents from a random one. An agent builds and
 * compresses its result on its own host; built here while the phase runs, each costs this
 * process 45-75 µs (10-15% of a core at 2,000 a second), CPU taken from the servers it measures
 * on a 2-core host. Past `count` they are built as they are sent, and counted (`builtDuring`).
 */
function prepareUploads(count: number, ports: readonly Record<string, unknown>[]): { readonly upload: (i: number) => PreparedUpload; readonly builtDuring: () => number } {
  const first = Math.floor(Math.random() * uploaders.length);
  const at = (i: number) => uploaders[(first + i) % uploaders.length];
  const prepared = Array.from({ length: count }, (_, i) => prepareUpload(at(i), ports));
  let built = 0;
  return {
    upload: (i) => {
      if (i < prepared.length) return prepared[i];
      built += 1;
      return prepareUpload(at(i), ports);
    },
    builtDuring: () => built,
  };
}

async function openLoopUploads(command: Extract<LoadCommand, { kind: 'upload-rate' }>): Promise<PhaseResult> {
  if (!uploaders.length) throw new Error('no upload agents were given');
  const ports = observedPorts(command.ports);
  const durationMs = command.durationSeconds * 1000;
  // Exponential gaps: independent agents, so arrivals bunch and thin out as a fleet's do.
  const times: number[] = [];
  for (let at = 0, n = 0; n < 1_000_000; n++) {
    at += (-Math.log(1 - Math.random()) * 1000) / command.ratePerSecond;
    if (at >= durationMs) break;
    times.push(at);
  }
  const agent = new Agent({ keepAlive: true, maxSockets, ca, scheduling: 'lifo' });
  const sockets = socketCounter();
  const recorder = new LatencyRecorder(MAX_SAMPLES);
  const sample = uploadBody(uploaders[0].trackerId, ports);
  const { upload, builtDuring } = prepareUploads(Math.min(times.length, MAX_PREPARED), ports);
  send({ id: command.id, kind: 'steady-start' });
  const { start, lags, unanswered } = await openLoop(times, durationMs, (i, due) => {
    const { body, headers } = upload(i);
    return recordAnswer(recorder, call(agent, command.target, 'POST', '/api/agent/results', stamped(headers), body, SHORT_TIMEOUT_MS, sockets.onSocket), 202, due);
  });
  send({ id: command.id, kind: 'steady-end' });
  agent.destroy();
  return { ...openLoopFigures(recorder, { start, lags, unanswered }, sockets.opened, command.durationSeconds), builtDuring: builtDuring(), uploadBytes: { gzip: sample.gzip.length, json: sample.json } };
}

async function closedLoopUploads(command: Extract<LoadCommand, { kind: 'upload' }>): Promise<PhaseResult> {
  if (!uploaders.length) throw new Error('no upload agents were given');
  const ports = observedPorts(command.ports);
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(maxSockets, command.concurrency), ca, scheduling: 'lifo' });
  const sockets = socketCounter();
  const recorder = new LatencyRecorder(MAX_SAMPLES);
  const sample = uploadBody(uploaders[0].trackerId, ports);
  const { upload, builtDuring } = prepareUploads(Math.min(command.maxRequests, command.prepare, MAX_PREPARED), ports);
  let issued = 0;
  send({ id: command.id, kind: 'steady-start' });
  const start = performance.now();
  const deadline = start + command.durationSeconds * 1000;
  let lastAnswer = start;
  const worker = async () => {
    while (performance.now() < deadline && issued < command.maxRequests) {
      const { identity, jobId, startedAt, body, headers } = upload(issued++);
      const sent = performance.now();
      try {
        if (command.withStart) {
          const start = Buffer.from(JSON.stringify({ jobId, trackerId: identity.trackerId, trigger: 'schedule', startedAt: startedAt.toISOString() }));
          const startHeaders = { ...agentHeaders(identity), 'content-type': 'application/json', 'content-length': start.length };
          const started = outcomeOf(await call(agent, command.target, 'POST', '/api/agent/scans', startHeaders, start, SHORT_TIMEOUT_MS, sockets.onSocket), 202);
          if (!started.ok) {
            recorder.record(`scans-${started.outcome}`, performance.now() - sent, false);
            lastAnswer = performance.now();
            await sleep(50);
            continue;
          }
        }
        const answer = await call(agent, command.target, 'POST', '/api/agent/results', stamped(headers), body, SHORT_TIMEOUT_MS, sockets.onSocket);
        const { outcome, ok } = outcomeOf(answer, 202);
        recorder.record(outcome, performance.now() - sent, ok);
      } catch (error) {
        recorder.record((error as Error).message, performance.now() - sent, false);
        await sleep(50);
      }
      lastAnswer = performance.now();
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  const elapsedSeconds = (lastAnswer - start) / 1000;
  send({ id: command.id, kind: 'steady-end' });
  agent.destroy();
  return { ...figures(recorder, elapsedSeconds, sockets.opened, 0), builtDuring: builtDuring(), uploadBytes: { gzip: sample.gzip.length, json: sample.json } };
}

async function heldPolls(command: Extract<LoadCommand, { kind: 'held' }>): Promise<PhaseResult> {
  const count = Math.min(command.agents, agents.length);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, ca, scheduling: 'lifo' });
  const sockets = socketCounter();
  const recorder = new LatencyRecorder(MAX_SAMPLES);
  const start = performance.now();
  const rampEnd = start + command.rampSeconds * 1000;
  const end = start + command.durationSeconds * 1000;
  const timeoutMs = (command.waitSeconds + 20) * 1000;
  let held = 0;
  let heldMin = Infinity;
  let heldMax = 0;
  let answeredInSteady = 0;
  let steadyStarted = false;
  let stopping = false;
  const loop = async (index: number) => {
    await sleep((command.rampSeconds * 1000 * index) / count);
    const identity = agents[index];
    for (let round = 0; round < 1_000 && performance.now() < end && !stopping; round++) {
      const sent = performance.now();
      held += 1;
      try {
        const answer = await call(agent, command.target, 'GET', pollPath(identity, command.waitSeconds), agentHeaders(identity), undefined, timeoutMs, sockets.onSocket);
        const { outcome, ok } = outcomeOf(answer, 200);
        // The time beyond the requested wait: what the hub adds to a held poll.
        recorder.record(outcome, performance.now() - sent - command.waitSeconds * 1000, ok);
        if (steadyStarted && performance.now() < end) answeredInSteady += 1;
        if (!ok) await sleep(1_000);
      } catch (error) {
        if (!stopping) {
          recorder.record((error as Error).message, 0, false);
          await sleep(1_000);
        }
      } finally {
        held -= 1;
      }
    }
  };
  const loops = Promise.all(Array.from({ length: count }, (_, i) => loop(i)));
  await sleep(Math.max(0, rampEnd - performance.now()) + 2_000);
  steadyStarted = true;
  const steadyStart = performance.now();
  send({ id: command.id, kind: 'steady-start' });
  while (performance.now() < end) {
    heldMin = Math.min(heldMin, held);
    heldMax = Math.max(heldMax, held);
    await sleep(250);
  }
  const steadySeconds = (performance.now() - steadyStart) / 1000;
  send({ id: command.id, kind: 'steady-end' });
  stopping = true;
  agent.destroy();
  await Promise.race([loops, sleep(DRAIN_MS)]);
  const elapsedSeconds = (performance.now() - start) / 1000;
  return {
    ...figures(recorder, elapsedSeconds, sockets.opened, 0),
    steady: { seconds: round(steadySeconds, 1), answered: answeredInSteady, answeredPerSecond: round(answeredInSteady / steadySeconds, 1), heldMin: heldMin === Infinity ? 0 : heldMin, heldMax },
  };
}

/** An open-loop phase's figures: answers a second over the phase's duration, and how late requests were sent. */
function openLoopFigures(recorder: LatencyRecorder, loop: { start: number; lags: LatencyRecorder; unanswered: number }, socketsOpened: number, durationSeconds: number): PhaseResult {
  const lag = loop.lags.summary();
  return {
    ...figures(recorder, (performance.now() - loop.start) / 1000, socketsOpened, loop.unanswered),
    okPerSecond: round(recorder.ok / durationSeconds, 1),
    sendLagMs: { p99: lag.p99, max: lag.max },
  };
}

function figures(recorder: LatencyRecorder, elapsedSeconds: number, socketsOpened: number, unanswered: number): Omit<PhaseResult, 'sendLagMs' | 'steady' | 'uploadBytes' | 'builtDuring'> {
  const outcomes = Object.fromEntries(recorder.outcomes);
  if (unanswered) outcomes['unanswered'] = unanswered;
  return {
    requests: recorder.total + unanswered,
    ok: recorder.ok,
    outcomes,
    elapsedSeconds: round(elapsedSeconds, 2),
    okPerSecond: round(recorder.ok / Math.max(0.001, elapsedSeconds), 1),
    latencyMs: recorder.summary(),
    socketsOpened,
    unanswered,
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

async function handle(command: LoadCommand): Promise<void> {
  switch (command.kind) {
    case 'init':
      ca = command.ca;
      agents = command.agents;
      uploaders = command.uploaders;
      maxSockets = command.maxSockets;
      send({ id: -1, kind: 'ready' });
      return;
    case 'exit':
      process.exit(0);
      return;
    default: {
      const run =
        command.kind === 'poll' ? openLoopPolls(command) : command.kind === 'upload' ? closedLoopUploads(command) : command.kind === 'upload-rate' ? openLoopUploads(command) : heldPolls(command);
      await run.then(
        (result) => send({ id: command.id, kind: 'done', result }),
        (error: unknown) => send({ id: command.id, kind: 'failed', error: String((error as Error)?.stack ?? error) }),
      );
    }
  }
}

process.on('message', (command: LoadCommand) => void handle(command));
process.on('disconnect', () => process.exit(0));
