import { PendingSentMarks } from '@portolan/platform';
import { BackgroundSends } from './group-commit';

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('BackgroundSends', () => {
  it('makes room only once fewer than the bound are running, a failed send counting as ended', async () => {
    const sends = new BackgroundSends(2);
    const [a, b] = [deferred(), deferred()];
    sends.add(a.promise);
    sends.add(b.promise);
    let roomy = false;
    const room = sends.room().then(() => (roomy = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(roomy).toBe(false);
    a.reject(new Error('bus down'));
    await room;
    expect(roomy).toBe(true);
  });

  it('is idle once every send started so far has ended', async () => {
    const sends = new BackgroundSends(4);
    const slow = deferred();
    sends.add(slow.promise);
    let idle = false;
    const waiting = sends.idle().then(() => (idle = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false);
    slow.resolve();
    await waiting;
    expect(idle).toBe(true);
  });

  it('marks what its sends resolve with, and has written the marks once idle', async () => {
    const statements: unknown[][] = [];
    // Every mark written (no row locked): the statement answers the ids it marked.
    const db = { query: async <T>(_sql: string, params: unknown[] = []): Promise<T> => (statements.push(params), [{ events: params[0], uploads: params[2] }] as T) };
    const sends = new BackgroundSends(4, new PendingSentMarks(db, () => undefined));
    sends.add(Promise.resolve({ uploadIds: ['u1'] }));
    sends.add(Promise.resolve({ uploadIds: ['u2'] }));
    sends.add(Promise.reject(new Error('bus down')));
    sends.add(Promise.resolve());
    await sends.idle();
    expect(statements.map((params) => params[2])).toEqual([['u1', 'u2']]);
  });
});
