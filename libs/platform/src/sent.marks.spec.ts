import { PendingSentMarks } from './sent.marks';

/**
 * A stand-in for the database that records each statement and answers every id marked but those
 * in `locked` (rows another transaction holds). The SQL itself runs on Postgres in agent-api.int-spec.
 */
function recorder(fail = () => false, locked = new Set<string>()) {
  const statements: { sql: string; events: string[]; uploads: string[] }[] = [];
  return {
    statements,
    db: {
      query: async <T>(sql: string, params: unknown[] = []): Promise<T> => {
        const [events, , uploads] = params as [string[], Date[], string[]];
        statements.push({ sql, events, uploads });
        if (fail()) throw new Error('connection lost');
        return [{ events: events.filter((id) => !locked.has(id)), uploads: uploads.filter((id) => !locked.has(id)) }] as T;
      },
    },
  };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const event = (id: string) => ({ id, occurredAt: new Date('2026-12-01T10:00:00.000Z') });

describe('PendingSentMarks', () => {
  it('writes the marks of many batches in one statement, after a short wait, never waiting for a locked row', async () => {
    const { db, statements } = recorder();
    const marks = new PendingSentMarks(db, () => undefined);
    marks.add({ events: [event('e1')], uploadIds: ['u1'] });
    marks.add({ uploadIds: ['u2', 'u3'] });
    marks.add({ events: [event('e2')] });
    expect(statements).toHaveLength(0);
    await wait(350);
    expect(statements).toHaveLength(1);
    expect(statements[0].sql).toMatch(/UPDATE events ev SET announced_at/);
    expect(statements[0].sql).toMatch(/UPDATE agent_uploads up SET published_at/);
    expect(statements[0].sql.match(/FOR NO KEY UPDATE SKIP LOCKED/g)).toHaveLength(2);
    expect(statements[0]).toMatchObject({ events: ['e1', 'e2'], uploads: ['u1', 'u2', 'u3'] });
    expect(marks.pending).toBe(0);
  });

  it('writes at once when flushed or when many are waiting, and nothing when nothing is', async () => {
    const { db, statements } = recorder();
    const marks = new PendingSentMarks(db, () => undefined);
    await marks.flush();
    marks.add({ uploadIds: [] });
    await marks.flush();
    expect(statements).toHaveLength(0);
    marks.add({ uploadIds: ['u1'] });
    await marks.flush();
    expect(statements.map((s) => s.uploads)).toEqual([['u1']]);
    marks.add({ uploadIds: Array.from({ length: 5_000 }, (_, i) => `u-${i}`) });
    await wait(0);
    expect(statements).toHaveLength(2);
    expect(marks.pending).toBe(0);
  });

  it('reports a failed write and goes on with the next marks', async () => {
    let failing = true;
    const { db, statements } = recorder(() => failing);
    const errors: unknown[] = [];
    const marks = new PendingSentMarks(db, (error) => errors.push(error));
    marks.add({ uploadIds: ['u1'] });
    await marks.flush();
    expect(errors.map(String)).toEqual(['Error: connection lost']);
    failing = false;
    marks.add({ uploadIds: ['u2'] });
    await marks.flush();
    expect(statements.map((s) => s.uploads)).toEqual([['u1'], ['u2']]);
  });

  it('writes a mark whose row was locked again with the next write, until it is marked or has been tried 25 times', async () => {
    const locked = new Set(['u-busy', 'e-busy']);
    const { db, statements } = recorder(() => false, locked);
    const errors: unknown[] = [];
    const marks = new PendingSentMarks(db, (error) => errors.push(error));
    marks.add({ events: [event('e1'), event('e-busy')], uploadIds: ['u1', 'u-busy'] });
    await marks.flush();
    expect(marks.pending).toBe(2);
    await marks.flush();
    expect(statements[1]).toMatchObject({ events: ['e-busy'], uploads: ['u-busy'] });
    // The comparer's transaction ends: the upload is marked at the next write; the event stays locked.
    locked.delete('u-busy');
    await marks.flush();
    expect(statements[2]).toMatchObject({ events: ['e-busy'], uploads: ['u-busy'] });
    for (let i = 0; i < 30 && marks.pending; i += 1) await marks.flush();
    expect(statements.map((s) => s.events.length + s.uploads.length).slice(3)).toEqual(Array(22).fill(1));
    expect(marks.pending).toBe(0);
    expect(errors.map(String)).toEqual(["Error: 1 sent marks found their rows locked 25 times; the leader's sweeps will send them again"]);
  });
});
