import { JobCancellations } from './job.cancellations';

describe('what a worker knows of cancelled jobs', () => {
  it('aborts the work under way of a cancelled job, and of no other', () => {
    const cancellations = new JobCancellations();
    const [a1, a2, b] = [new AbortController(), new AbortController(), new AbortController()];
    cancellations.track('job-a', a1);
    const untrackA2 = cancellations.track('job-a', a2);
    cancellations.track('job-b', b);
    untrackA2(); // finished before the cancel came
    expect(cancellations.cancel('job-a', 'cancelled by soc-1: wrong range')).toBe(1);
    expect([a1.signal.aborted, a2.signal.aborted, b.signal.aborted]).toEqual([true, false, false]);
    expect(cancellations.reasonFor('job-a')).toBe('cancelled by soc-1: wrong range');
    expect(cancellations.reasonFor('job-b')).toBeUndefined();
    // Told again (the scheduler repeats it to a worker that reports progress): nothing more to stop.
    expect(cancellations.cancel('job-a', 'cancelled by soc-1: wrong range')).toBe(0);
  });

  it('remembers the latest cancellations only, up to its limit', () => {
    const cancellations = new JobCancellations(2);
    cancellations.cancel('job-1', 'r1');
    cancellations.cancel('job-2', 'r2');
    cancellations.cancel('job-1', 'r1'); // heard again: the newest now
    cancellations.cancel('job-3', 'r3');
    expect(['job-1', 'job-2', 'job-3'].map((id) => cancellations.reasonFor(id))).toEqual(['r1', undefined, 'r3']);
  });

  it('forgets work once it ends', () => {
    const cancellations = new JobCancellations();
    const controller = new AbortController();
    cancellations.track('job-a', controller)();
    expect(cancellations.cancel('job-a', 'r')).toBe(0);
    expect(controller.signal.aborted).toBe(false);
  });
});
