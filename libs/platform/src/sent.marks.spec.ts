import { PendingSentMarks } from './sent.marks';

/** A stand-in for the database that records each statement (the SQL itself is covered on Postgres by agent-api.int-spec). */
function recorder(fail = () => false) {
  const statements: { sql: string; params: unknown[] }[] = [];
  return {
    statements,
    db: {
      query: async <T>(sql: string, params?: unknown[]): Promise<T> => {
        statements.push({ sql, params: params ?? [] });
        if (fail()) throw new Error('connection lost');
        return [] as T;
      },
    },
  };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const event = (id: string) => ({ id, occurredAt: new Date('2026-12-01T10:00:00.000Z') });

describe('PendingSentMarks', () => {
  it('writes the marks of many batches in one statement, after a short wait', async () => {
    const { db, statements } = recorder();
    const marks = new PendingSentMarks(db, () => undefined);
    marks.add({ events: [event('e1')], uploadIds: ['u1'] });
    marks.add({ uploadIds: ['u2', 'u3'] });
    marks.add({ events: [event('e2')] });
    expect(statements).toHaveLength(0);
    await wait(350);
    expect(statements).toHaveLength(1);
    expect(statements[0].sql).toMatch(/UPDATE events SET announced_at/);
    expect(statements[0].sql).toMatch(/UPDATE agent_uploads SET published_at/);
    expect(statements[0].params).toEqual(expect.arrayContaining([['e1', 'e2'], ['u1', 'u2', 'u3']]));
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
    expect(statements.map((s) => s.params)).toEqual([[['u1']]]);
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
    expect(statements.map((s) => s.params)).toEqual([[['u1']], [['u2']]]);
  });
});
