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
    h.reporter.report({ percent: 3 });
    expect(h.sent).toEqual([]);
    h.advance(15_000);
    h.reporter.report({ percent: 12.345 });
    h.reporter.report({ percent: 13 });
    expect(h.sent).toEqual([{ percent: 12.3 }]); // to a tenth
    h.answer();
    await h.settle();
    h.advance(14_999);
    h.reporter.report({ percent: 40 });
    h.advance(1);
    h.reporter.report({ percent: 41 });
    expect(h.sent.map((p) => p.percent)).toEqual([12.3, 41]);
  });

  it('never has two calls in flight: a slow hub makes it skip, not queue', async () => {
    const h = harness();
    h.advance(15_000);
    h.reporter.report({ percent: 10 });
    h.advance(60_000);
    h.reporter.report({ percent: 50 });
    expect(h.sent).toHaveLength(1);
    h.answer();
    await h.settle();
    h.reporter.report({ percent: 55 });
    expect(h.sent.map((p) => p.percent)).toEqual([10, 55]);
  });

  it('drops a report the hub did not take, saying why, and goes on', async () => {
    const h = harness();
    h.advance(15_000);
    h.reporter.report({ percent: 10 });
    h.answer(false);
    await h.settle();
    expect(String(h.errors[0])).toMatch(/hub unreachable/);
    h.advance(15_000);
    h.reporter.report({ percent: 20 });
    expect(h.sent.map((p) => p.percent)).toEqual([10, 20]);
  });

  it('drops a send that throws at once, and goes on', async () => {
    let now = 0;
    const errors: unknown[] = [];
    let calls = 0;
    const reporter = new ProgressReporter(
      () => {
        calls += 1;
        throw new Error('the agent is not enrolled');
      },
      (error) => errors.push(error),
      15_000,
      () => now,
    );
    now += 15_000;
    reporter.report({ percent: 10 });
    await new Promise((r) => setImmediate(r));
    now += 15_000;
    reporter.report({ percent: 20 });
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    expect(String(errors[0])).toMatch(/not enrolled/);
  });

  it('sends nothing once the run ended', () => {
    const h = harness();
    h.reporter.stop();
    h.advance(60_000);
    h.reporter.report({ percent: 99 });
    expect(h.sent).toEqual([]);
  });
});
