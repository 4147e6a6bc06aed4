import { ProgressReporter, RunProgress } from './progress.reporter';

/** A reporter on a clock the test moves, sending into a list; `answer` settles the call in flight. */
function harness(everyMs = 15_000) {
  let now = 1_000_000;
  const sent: RunProgress[] = [];
  const errors: unknown[] = [];
  let answer: (ok: boolean) => void = () => undefined;
  const reporter = new ProgressReporter(
    (p) => {
      sent.push(p);
      return new Promise((resolve, reject) => (answer = (ok) => (ok ? resolve(undefined) : reject(new Error('hub unreachable')))));
    },
    (error) => errors.push(error),
    everyMs,
    () => now,
  );
  return { reporter, sent, errors, advance: (ms: number) => (now += ms), answer: (ok = true) => answer(ok), settle: () => new Promise((r) => setImmediate(r)) };
}

describe('ProgressReporter', () => {
  it('sends at most one report a period, the one said when it is due, from a period after the start', async () => {
    const h = harness();
    h.reporter.report({ percent: 3, hostsDone: 0 });
    expect(h.sent).toEqual([]);
    h.advance(15_000);
    h.reporter.report({ percent: 12.345, hostsDone: 1, remainingSeconds: 90 });
    h.reporter.report({ percent: 13, hostsDone: 1 });
    expect(h.sent).toEqual([{ percent: 12.3, hostsDone: 1, remainingSeconds: 90 }]);
    h.answer();
    await h.settle();
    h.advance(14_999);
    h.reporter.report({ percent: 40, hostsDone: 2 });
    h.advance(1);
    h.reporter.report({ percent: 41, hostsDone: 2 });
    expect(h.sent.map((p) => p.percent)).toEqual([12.3, 41]);
  });

  it('never has two calls in flight: a slow hub makes it skip, not queue', async () => {
    const h = harness();
    h.advance(15_000);
    h.reporter.report({ percent: 10, hostsDone: 0 });
    h.advance(60_000);
    h.reporter.report({ percent: 50, hostsDone: 0 });
    expect(h.sent).toHaveLength(1);
    h.answer();
    await h.settle();
    h.reporter.report({ percent: 55, hostsDone: 0 });
    expect(h.sent.map((p) => p.percent)).toEqual([10, 55]);
  });

  it('drops a report the hub did not take, saying why, and goes on', async () => {
    const h = harness();
    h.advance(15_000);
    h.reporter.report({ percent: 10, hostsDone: 0 });
    h.answer(false);
    await h.settle();
    expect(String(h.errors[0])).toMatch(/hub unreachable/);
    h.advance(15_000);
    h.reporter.report({ percent: 20, hostsDone: 0 });
    expect(h.sent.map((p) => p.percent)).toEqual([10, 20]);
  });

  it('sends nothing once the run ended', () => {
    const h = harness();
    h.reporter.stop();
    h.advance(60_000);
    h.reporter.report({ percent: 99, hostsDone: 4 });
    expect(h.sent).toEqual([]);
  });
});
