import fc from 'fast-check';
import { portItem } from '@portolan/diff';
import { confirmChanges, DetectedChange, PendingChange } from './confirmation';
import { FlapState, stepFlapping } from './flapping';

const T = new Date('2026-12-01T10:00:00Z');
const at = (minutes: number) => new Date(T.getTime() + minutes * 60_000);
const open = (port: number, pid = 1) => portItem('127.0.0.1', { protocol: 'tcp', port, state: 'open', bindAddress: '0.0.0.0', process: 'nginx', pid });
const added = (port: number, pid = 1): DetectedChange => ({ kind: 'added', item: open(port, pid), before: null, after: open(port, pid) });

describe('confirmChanges', () => {
  it('with 1 confirmation reports everything at once', () => {
    const out = confirmChanges([added(80)], [], 1, T, 'j1');
    expect(out.confirmed).toHaveLength(1);
    expect(out.pending).toEqual([]);
  });

  it('with 3 reports a change on its third consecutive sighting, dated from the first', () => {
    let pending: PendingChange[] = [];
    for (const [i, expected] of [
      [0, 0],
      [1, 0],
      [2, 1],
    ] as const) {
      const out = confirmChanges([added(80, 100 + i)], pending, 3, at(i), `j${i}`);
      expect(out.confirmed).toHaveLength(expected);
      pending = out.pending;
      if (expected) expect(out.confirmed[0].firstSeenAt).toEqual(at(0));
    }
    expect(pending).toEqual([]);
  });

  it('a change that goes back before it is confirmed is dropped and never reported', () => {
    const first = confirmChanges([added(80)], [], 2, at(0), 'j1');
    const second = confirmChanges([], first.pending, 2, at(1), 'j2');
    expect(second.confirmed).toEqual([]);
    expect(second.dropped.map((p) => p.itemKey)).toEqual(['tcp/80@0.0.0.0']);
  });

  it('a different change of the same item starts the count again', () => {
    const first = confirmChanges([added(80)], [], 2, at(0), 'j1');
    const other = portItem('127.0.0.1', { protocol: 'tcp', port: 80, state: 'open', bindAddress: '0.0.0.0', process: 'httpd', pid: 1 });
    const second = confirmChanges([{ kind: 'added', item: other, before: null, after: other }], first.pending, 2, at(1), 'j2');
    expect(second.confirmed).toEqual([]);
    expect(second.pending[0]).toMatchObject({ seen: 1, firstJobId: 'j2' });
  });

  it('property: a change seen in k consecutive scans is reported exactly when k >= N, once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 10 }), (required, scans) => {
        let pending: PendingChange[] = [];
        let reported = 0;
        for (let i = 0; i < scans && reported === 0; i++) {
          const out = confirmChanges([added(443, i)], pending, required, at(i), `j${i}`);
          reported += out.confirmed.length;
          pending = out.pending;
        }
        expect(reported).toBe(scans >= required ? 1 : 0);
      }),
    );
  });
});

describe('stepFlapping', () => {
  const policy = { threshold: 3, windowMs: 10 * 60_000 };
  const run = (changes: boolean[]) => {
    let state: FlapState | null = null;
    const out: string[] = [];
    changes.forEach((changed, i) => {
      const now = at(i).getTime();
      const step = stepFlapping(state, changed ? now : null, now, policy);
      state = step.state;
      out.push(step.emit ?? (step.report ? 'change' : changed ? 'quiet' : '-'));
    });
    return out;
  };

  it('reports changes up to the threshold, then one flapping-started, quiet changes, one flapping-stopped after a quiet window', () => {
    const timeline = [true, true, true, true, true, true, false, ...Array(10).fill(false), true];
    // The last change is at minute 5: the window of 10 minutes is quiet at minute 15.
    expect(run(timeline)).toEqual(['change', 'change', 'change', 'started', 'quiet', 'quiet', ...Array(9).fill('-'), 'stopped', '-', 'change']);
  });

  it('changes spread wider than the window never flap', () => {
    const timeline = Array.from({ length: 60 }, (_, i) => i % 11 === 0);
    expect(run(timeline).filter((s) => s === 'started')).toEqual([]);
  });

  it('property: every flapping-started is followed by at most one flapping-stopped before the next start', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 120 }), (timeline) => {
        const emits = run(timeline).filter((s) => s === 'started' || s === 'stopped');
        emits.forEach((e, i) => expect(e).toBe(i % 2 === 0 ? 'started' : 'stopped'));
      }),
    );
  });
});
