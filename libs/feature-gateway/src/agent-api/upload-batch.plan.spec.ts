import { AgentResult, DomainError } from '@portolan/contracts';
import { agentResultMessage } from '@portolan/platform';
import { planScanStarts, planUploadBatch, ScanStartDecision, UploadBatchState, UploadDecision, uploadKey, UploadRequest } from './upload-batch.plan';

const AGENT = { id: 'a1', name: 'web-01', deviceId: 'dev-a1', siteId: null, scanner: true, duplicated: false, keptBoot: null };
const OTHER = { id: 'a2', name: 'db-01', deviceId: 'dev-a2', siteId: null, scanner: false, duplicated: false, keptBoot: null };
const TCP_40000 = { tcp: [{ from: 40000, to: 40100 }], udp: [] };
/** Received a second after the runs of `result` ended, from an agent whose clock agrees with the hub's. */
const ON_TIME = { receivedAtMs: Date.parse('2026-12-01T10:00:01.250Z'), offsetMs: 40 };

function result(jobId: string, overrides: Partial<AgentResult> = {}): AgentResult {
  return {
    jobId,
    trackerId: 'self-1',
    trigger: 'schedule',
    status: 'completed',
    engine: 'ss',
    engineVersion: 'iproute2-6.1',
    args: ['-tulpnH'],
    startedAt: '2026-12-01T10:00:00.000Z',
    finishedAt: '2026-12-01T10:00:00.250Z',
    coverage: { ports: { tcp: [{ from: 1, to: 65535 }], udp: [] } },
    hosts: [{ address: '127.0.0.1', hostnames: [], state: 'up', ports: [{ protocol: 'tcp', port: 40001, state: 'open' }] }],
    ...overrides,
  } as AgentResult;
}

function state(overrides: Partial<UploadBatchState> = {}): UploadBatchState {
  return {
    accepted: new Map(),
    trackers: new Map([
      ['self-1', { agentId: 'a1', deviceId: 'dev-a1', mode: 'self', portSet: TCP_40000, deviceAddress: '10.1.2.3' }],
      ['net-1', { agentId: 'a1', deviceId: 'dev-net', mode: 'network', portSet: TCP_40000, deviceAddress: '127.0.0.70-73' }],
    ]),
    jobs: new Map(),
    ...overrides,
  };
}

const request = (jobId: string, key: string, overrides: Partial<AgentResult> = {}, agent = AGENT, clock: UploadRequest['clock'] = ON_TIME): UploadRequest => ({
  agent,
  idempotencyKey: key,
  result: result(jobId, overrides),
  bodyGzip: Buffer.from(`body of ${jobId}`),
  clock,
});
const ids = () => {
  let n = 0;
  return () => `id-${++n}`;
};
const summary = (d: UploadDecision) => (d.kind === 'accepted' ? `accepted ${d.upload.jobId}` : d.kind === 'duplicate' ? `duplicate ${d.jobId}` : `refused ${d.error.code}: ${d.error.message}`);

describe('planUploadBatch', () => {
  it('accepts a self-scan under the device address, inside the tracker ports, with a new job and its scan-started event', () => {
    const [decision] = planUploadBatch([request('j1', 'key-0001')], state(), ids());
    if (decision.kind !== 'accepted') throw new Error(summary(decision));
    expect('insert' in decision.job && decision.job.insert).toMatchObject({ id: 'j1', trackerId: 'self-1', deviceId: 'dev-a1', agentId: 'a1', hosts: 1, probes: 101 });
    expect(decision.upload.kind).toBe('completed');
    if (decision.upload.kind !== 'completed') return;
    expect(decision.upload.payload.hosts.map((h) => h.address)).toEqual(['10.1.2.3']);
    expect(decision.upload.payload.coverage.ports).toEqual(TCP_40000);
    expect(decision.upload.payload.durationMs).toBe(250);
    expect(decision.chunk).toMatchObject({ jobId: 'j1', targets: ['10.1.2.3'], worker: 'agent:web-01' });
    expect(decision.upload.payload.chunkId).toBe(decision.chunk.id);
    expect(decision.started?.details).toMatchObject({ what: 'scan-started', agentId: 'a1', trigger: 'schedule' });
    // Stored: the body as sent and the acceptance, which make the same message again.
    expect(decision.upload.bodyGzip.toString()).toBe('body of j1');
    expect(decision.upload.acceptance).toEqual({ chunkId: decision.chunk.id, deviceId: 'dev-a1', worker: 'agent:web-01', coverage: TCP_40000, selfAddress: '10.1.2.3' });
    expect(agentResultMessage(result('j1'), decision.upload.acceptance)).toEqual({ kind: 'completed', payload: decision.upload.payload });
  });

  it('answers a key accepted before, or earlier in the same batch, as a replay of its job', () => {
    const decisions = planUploadBatch(
      [request('j1', 'key-0001'), request('j2', 'key-0002'), request('j2', 'key-0002')],
      state({ accepted: new Map([[uploadKey('a1', 'key-0001'), 'j1']]) }),
      ids(),
    );
    expect(decisions.map(summary)).toEqual(['duplicate j1', 'accepted j2', 'duplicate j2']);
  });

  it('keeps one agent key apart from the same key of another agent', () => {
    const st = state({ accepted: new Map([[uploadKey('a2', 'key-0001'), 'jx']]) });
    expect(planUploadBatch([request('j1', 'key-0001')], st, ids()).map(summary)).toEqual(['accepted j1']);
  });

  it('refuses a tracker of another agent or an unknown one, and accepts the rest of the batch', () => {
    const decisions = planUploadBatch([request('j1', 'key-0001', {}, OTHER), request('j2', 'key-0002', { trackerId: 'nope' }), request('j3', 'key-0003')], state(), ids());
    expect(decisions.map(summary)).toEqual(['refused not_found: tracker self-1 is not assigned to agent a2', 'refused not_found: tracker nope is not assigned to agent a1', 'accepted j3']);
  });

  it('refuses a job of another tracker or agent, a job with a result, and a second result for one job in the batch', () => {
    const jobs = new Map([
      ['j-other', { agentId: 'a1', trackerId: 'net-1', status: 'running', hasResult: false, started: true }],
      ['j-done', { agentId: 'a1', trackerId: 'self-1', status: 'succeeded', hasResult: true, started: true }],
    ]);
    const decisions = planUploadBatch([request('j-other', 'key-0001'), request('j-done', 'key-0002'), request('j4', 'key-0003'), request('j4', 'key-0004')], state({ jobs }), ids());
    expect(decisions.map(summary)).toEqual([
      'refused conflict: job j-other belongs to another agent or tracker',
      'refused conflict: job j-done already has a result; a new run needs a new job id',
      'accepted j4',
      'refused conflict: job j4 already has a result; a new run needs a new job id',
    ]);
  });

  it('starts a job the hub asked for (the scan-started event only if the agent had not reported the start)', () => {
    const jobs = new Map([
      ['j-asked', { agentId: 'a1', trackerId: 'self-1', status: 'queued', hasResult: false, started: false }],
      ['j-started', { agentId: 'a1', trackerId: 'self-1', status: 'running', hasResult: false, started: true }],
    ]);
    const [asked, started] = planUploadBatch([request('j-asked', 'key-0001', { trigger: 'manual' }), request('j-started', 'key-0002')], state({ jobs }), ids());
    if (asked.kind !== 'accepted' || started.kind !== 'accepted') throw new Error('not accepted');
    expect(asked.job).toMatchObject({ startNow: true });
    expect(asked.started).toBeDefined();
    expect(started.job).toMatchObject({ startNow: false, reopen: false });
    expect(started.started).toBeUndefined();
  });

  it('reopens a run the hub failed for want of a result (a timeout) when its result comes after all; one with a result stays refused', () => {
    const jobs = new Map([
      ['j-late', { agentId: 'a1', trackerId: 'self-1', status: 'failed', hasResult: false, started: true }],
      ['j-unstarted', { agentId: 'a1', trackerId: 'self-1', status: 'failed', hasResult: false, started: false }],
      ['j-done', { agentId: 'a1', trackerId: 'self-1', status: 'failed', hasResult: true, started: true }],
    ]);
    const [late, unstarted, done] = planUploadBatch([request('j-late', 'key-0001'), request('j-unstarted', 'key-0002'), request('j-done', 'key-0003')], state({ jobs }), ids());
    if (late.kind !== 'accepted' || unstarted.kind !== 'accepted') throw new Error(`${summary(late)}; ${summary(unstarted)}`);
    expect(late.job).toMatchObject({ startNow: false, reopen: true });
    expect(late.started).toBeUndefined(); // its scan-started event was written when it started
    // Failed before it started (picked up, then a timeout): its result starts it, with the event.
    expect(unstarted.job).toMatchObject({ startNow: false, reopen: true });
    expect(unstarted.started?.details).toMatchObject({ what: 'scan-started' });
    expect(summary(done)).toBe('refused conflict: job j-done already has a result; a new run needs a new job id');
  });

  it('refuses a self-scan with other than one host, naming the count', () => {
    const twoHosts = result('j1').hosts.concat(result('j1').hosts);
    const [decision] = planUploadBatch([request('j1', 'key-0001', { hosts: twoHosts })], state(), ids());
    expect(decision.kind === 'refused' && decision.error).toEqual(new DomainError('invalid_payload', 'a self-scan result has exactly one host; this one has 2'));
  });

  it('keeps the hosts of a network scan and sizes the job by them; a failed run carries its error', () => {
    const hosts = ['127.0.0.70', '127.0.0.71'].map((address) => ({ address, hostnames: [], state: 'up' as const, ports: [] }));
    const [scan, failed] = planUploadBatch(
      [
        request('j1', 'key-0001', { trackerId: 'net-1', engine: 'nmap', hosts }),
        request('j2', 'key-0002', { trackerId: 'net-1', status: 'failed', hosts: [], error: { code: 'scan_failed', message: 'nmap exited 1' } }),
      ],
      state(),
      ids(),
    );
    if (scan.kind !== 'accepted' || failed.kind !== 'accepted') throw new Error('not accepted');
    expect(scan.chunk).toMatchObject({ targets: ['127.0.0.70', '127.0.0.71'], hosts: 2, probes: 202 });
    expect(failed.upload).toMatchObject({ kind: 'failed', payload: { error: { message: 'nmap exited 1' }, failedAt: '2026-12-01T10:00:00.250Z' } });
    expect(failed.chunk.hosts).toBe(1);
  });

  it('sizes a failed network scan by the hosts it reported before failing', () => {
    const hosts = ['127.0.0.70', '127.0.0.71', '127.0.0.72'].map((address) => ({ address, hostnames: [], state: 'up' as const, ports: [] }));
    const [failed] = planUploadBatch([request('j1', 'key-0001', { trackerId: 'net-1', status: 'failed', hosts, error: { code: 'scan_failed', message: 'nmap killed' } })], state(), ids());
    if (failed.kind !== 'accepted') throw new Error('not accepted');
    expect(failed.chunk).toMatchObject({ targets: ['127.0.0.70', '127.0.0.71', '127.0.0.72'], hosts: 3, probes: 303 });
  });
});

describe('planUploadBatch on the hub clock', () => {
  const HOUR = 3_600_000;

  it("puts the run of an agent whose clock is 3 h behind on the hub's clock: job, chunk, event, message; the stored acceptance says by how much", () => {
    // The agent's runs "ended at 10:00:00.250"; its clock said 10:00:01.250 when the hub's said 13:00:01.250.
    const behind = { receivedAtMs: ON_TIME.receivedAtMs + 3 * HOUR, offsetMs: -3 * HOUR };
    const [decision] = planUploadBatch([request('j1', 'key-0001', {}, AGENT, behind)], state(), ids());
    if (decision.kind !== 'accepted') throw new Error(summary(decision));
    const hubStart = new Date('2026-12-01T13:00:00.000Z');
    expect(decision.upload.acceptance.clockCorrectionMs).toBe(-3 * HOUR);
    expect('insert' in decision.job && decision.job.insert.startedAt).toEqual(hubStart);
    expect(decision.chunk.startedAt).toEqual(hubStart);
    expect(decision.started).toMatchObject({ occurredAt: hubStart, details: { what: 'scan-started', startedAt: hubStart.toISOString(), clockCorrectionMs: -3 * HOUR } });
    if (decision.upload.kind !== 'completed') throw new Error('not completed');
    expect(decision.upload.payload).toMatchObject({ startedAt: '2026-12-01T13:00:00.000Z', finishedAt: '2026-12-01T13:00:00.250Z', durationMs: 250 });
    // That the outbox rebuilds the same message from the stored row: agent-upload.outbox.int-spec.
  });

  it('moves a run reported in the future (spooled while the clock ran ahead) back to when the hub received it, keeping its duration', () => {
    const setRight = { receivedAtMs: Date.parse('2026-12-01T08:00:00.000Z'), offsetMs: 15 };
    const [decision] = planUploadBatch([request('j1', 'key-0001', {}, AGENT, setRight)], state(), ids());
    if (decision.kind !== 'accepted' || decision.upload.kind !== 'completed') throw new Error('not accepted');
    expect(decision.upload.payload).toMatchObject({ startedAt: '2026-12-01T07:59:59.750Z', finishedAt: '2026-12-01T08:00:00.000Z', durationMs: 250 });
    expect(decision.upload.acceptance.clockCorrectionMs).toBe(2 * HOUR + 250);
  });

  it('stores no correction for a clock within the tolerance', () => {
    const [decision] = planUploadBatch([request('j1', 'key-0001')], state(), ids());
    if (decision.kind !== 'accepted' || decision.upload.kind !== 'completed') throw new Error('not accepted');
    expect(decision.upload.acceptance).not.toHaveProperty('clockCorrectionMs');
    expect(decision.upload.payload.startedAt).toBe('2026-12-01T10:00:00.000Z');
    expect(decision.started?.details).not.toHaveProperty('clockCorrectionMs');
  });
});

describe('planScanStarts', () => {
  const BOOT = '4b0f5d2e-8c1a-4e7b-9d3f-2a6c8e1b5f70';
  const start = (jobId: string, trackerId = 'self-1', agent = AGENT, clock = ON_TIME) => ({ agent, report: { jobId, trackerId, trigger: 'schedule' as const, startedAt: '2026-12-01T10:00:00.000Z' }, clock, boot: BOOT });
  const what = (d: ScanStartDecision) =>
    d.kind === 'started' ? `${'insert' in d.job ? 'insert' : 'update'} ${'insert' in d.job ? d.job.insert.id : d.job.update.id}` : d.kind === 'known' ? 'known' : `refused ${d.error.code}: ${d.error.message}`;
  const job = (status: string, agentId = 'a1', trackerId = 'self-1') => ({ agentId, trackerId, status, hasResult: false, started: false });

  it("inserts a run of the agent's own schedule running, with its scan-started event, once however often it is reported in a batch", () => {
    const decisions = planScanStarts([start('j1'), start('j1'), start('j2', 'net-1')], state());
    expect(decisions.map(what)).toEqual(['insert j1', 'known', 'insert j2']);
    const [first] = decisions;
    if (first.kind !== 'started' || !('insert' in first.job)) throw new Error(what(first));
    // The process that runs it: its boot, for the leader to tell whether it is still there.
    expect(first.job.insert).toEqual({ id: 'j1', trackerId: 'self-1', deviceId: 'dev-a1', trigger: 'schedule', agentId: 'a1', startedAt: new Date('2026-12-01T10:00:00.000Z'), boot: BOOT });
    expect(first.event).toMatchObject({ kind: 'communications', deviceId: 'dev-a1', jobId: 'j1', details: { what: 'scan-started', agentId: 'a1', trigger: 'schedule' } });
  });

  it("dates the start of an agent whose clock is ahead on the hub's clock", () => {
    const ahead = { receivedAtMs: Date.parse('2026-12-01T09:30:00.500Z'), offsetMs: 30 * 60_000 };
    const [decision] = planScanStarts([start('j1', 'self-1', AGENT, ahead)], state());
    if (decision.kind !== 'started' || !('insert' in decision.job)) throw new Error(what(decision));
    expect(decision.job.insert.startedAt).toEqual(new Date('2026-12-01T09:30:00.000Z'));
    expect(decision.event).toMatchObject({ occurredAt: new Date('2026-12-01T09:30:00.000Z'), details: { clockCorrectionMs: 30 * 60_000 } });
  });

  it('starts a job the hub asked for (pending or queued); one already running or done changes nothing', () => {
    const jobs = new Map([['p', job('pending')], ['q', job('queued')], ['r', job('running')], ['s', job('succeeded')]]);
    const decisions = planScanStarts([start('p'), start('q'), start('r'), start('s'), { ...start('j1'), boot: undefined }], state({ jobs }));
    expect(decisions.map(what)).toEqual(['update p', 'update q', 'known', 'known', 'insert j1']);
    const boots = decisions.map((d) => (d.kind !== 'started' ? undefined : 'insert' in d.job ? d.job.insert.boot : d.job.update.boot));
    expect(boots).toEqual([BOOT, BOOT, undefined, undefined, null]); // a report without a boot header leaves the claim's
  });

  it("refuses a tracker not the agent's and a job of another agent or tracker, and decides the others of the batch on their own", () => {
    const jobs = new Map([['theirs', job('pending', 'a2')], ['elsewhere', job('pending', 'a1', 'net-1')]]);
    expect(planScanStarts([start('j1', 'self-1', OTHER), start('theirs'), start('elsewhere'), start('j9')], state({ jobs })).map(what)).toEqual([
      'refused not_found: tracker self-1 is not assigned to agent a2',
      'refused conflict: job theirs belongs to another agent or tracker',
      'refused conflict: job elsewhere belongs to another agent or tracker',
      'insert j9',
    ]);
  });
});
