import { AgentJob, AgentTracker } from '@portolan/contracts';
import { AskedRuns } from './asked-runs';

const tracker = (id: string): AgentTracker => ({ id, name: `tracker ${id}`, mode: 'self', deviceId: 'd', ports: { tcp: [], udp: [] }, schedule: { kind: 'at-agent-startup' } });
const job = (jobId: string, trackerId = 't1'): AgentJob => ({ jobId, trackerId, trigger: 'manual' });
const nothingSpooled = () => false;

describe('AskedRuns', () => {
  const trackers = [tracker('t1'), tracker('t2')];

  it('runs a run once, however often it is handed over', () => {
    const runs = new AskedRuns();
    expect(runs.take(job('j1'), nothingSpooled, trackers)).toEqual({ kind: 'run', tracker: trackers[0] });
    expect(runs.take(job('j1'), nothingSpooled, trackers)).toEqual({ kind: 'skip', why: 'taken' });
    expect(runs.take(job('j2', 't2'), nothingSpooled, trackers)).toEqual({ kind: 'run', tracker: trackers[1] });
  });

  it('does not run a run whose result is in the spool (an earlier process ran it), and remembers it', () => {
    const runs = new AskedRuns();
    const spooled = new Set(['j1']);
    expect(runs.take(job('j1'), (id) => spooled.has(id), trackers)).toEqual({ kind: 'skip', why: 'spooled' });
    spooled.clear(); // uploaded meanwhile: still not run again
    expect(runs.take(job('j1'), (id) => spooled.has(id), trackers)).toEqual({ kind: 'skip', why: 'taken' });
  });

  it('does not run a run marked taken (its result was in the spool at start), though its result has left the spool since', () => {
    const runs = new AskedRuns();
    runs.markTaken(['j1', 'j2']);
    expect(runs.take(job('j1'), nothingSpooled, trackers)).toEqual({ kind: 'skip', why: 'taken' });
    expect(runs.take(job('j3'), nothingSpooled, trackers).kind).toBe('run');
  });

  it('keeps a run of a tracker it does not know until the next configuration, then runs it, or gives it up if that does not have it either', () => {
    const runs = new AskedRuns();
    expect(runs.take(job('j1', 't3'), nothingSpooled, trackers)).toEqual({ kind: 'await-config' });
    expect(runs.take(job('j2', 't4'), nothingSpooled, trackers)).toEqual({ kind: 'await-config' });
    const t3 = tracker('t3');
    const { decided, unknown } = runs.afterConfig(nothingSpooled, [...trackers, t3]);
    expect(decided).toEqual([{ job: job('j1', 't3'), decision: { kind: 'run', tracker: t3 } }]);
    expect(unknown).toEqual([job('j2', 't4')]);
    expect(runs.afterConfig(nothingSpooled, [...trackers, t3])).toEqual({ decided: [], unknown: [] });
    expect(runs.take(job('j1', 't3'), nothingSpooled, [...trackers, t3])).toEqual({ kind: 'skip', why: 'taken' });
    // Given up: handed over again (the hub re-offers a run not started), it is not fetched for again.
    expect(runs.take(job('j2', 't4'), nothingSpooled, [...trackers, t3])).toEqual({ kind: 'skip', why: 'taken' });
  });

  it('forgets every run when the process takes another identity', () => {
    const runs = new AskedRuns();
    runs.take(job('j1'), nothingSpooled, trackers);
    runs.take(job('j2', 't9'), nothingSpooled, trackers);
    runs.forget();
    expect(runs.afterConfig(nothingSpooled, [tracker('t9')])).toEqual({ decided: [], unknown: [] });
    expect(runs.take(job('j1'), nothingSpooled, trackers)).toEqual({ kind: 'run', tracker: trackers[0] });
  });

  it('remembers the newest runs only, within its bound', () => {
    const runs = new AskedRuns(3);
    for (const id of ['j1', 'j2', 'j3', 'j4']) runs.take(job(id), nothingSpooled, trackers);
    expect(runs.take(job('j4'), nothingSpooled, trackers)).toEqual({ kind: 'skip', why: 'taken' });
    expect(runs.take(job('j1'), nothingSpooled, trackers).kind).toBe('run'); // the oldest was forgotten
  });
});
