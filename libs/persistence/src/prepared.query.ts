import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import type { PoolClient } from 'pg';
import { isEmbedded } from './data-source.factory';

/** Where a statement runs: the data source (the statement is its own transaction) or a transaction's manager. */
export type Queryable = DataSource | EntityManager;

/** Statement texts given a name; past this many, a new text runs unnamed (its text varies with its data: a caller's mistake). */
const MAX_NAMED = 256;
const names = new Map<string, string>();

/**
 * Runs a statement that a hot path runs again and again as a named (prepared) statement on
 * Postgres: each connection parses, analyses and plans it once, then after five runs keeps a
 * generic plan, instead of doing all of that for every run. For the agent ingests' statements,
 * with their CTEs, planning cost more than running: the batch read of 10 uploads took 630 µs of
 * its backend's CPU unnamed, 230 µs named (2,000 runs each, 2026-12-05). Answers the rows, and
 * fails as `query` fails (a `QueryFailedError` carrying the driver's error). On PGlite (one
 * in-process session) it is a plain query.
 */
export async function queryPrepared<T = unknown>(q: Queryable, text: string, params: readonly unknown[]): Promise<T[]> {
  const source = q instanceof DataSource ? q : q.connection;
  if (isEmbedded(source)) return q.query(text, params as unknown[]);
  const name = nameFor(text);
  // A transaction's own connection, or one from the pool for this statement alone.
  const runner = q instanceof DataSource ? q.createQueryRunner() : q.queryRunner;
  if (!runner) return q.query(text, params as unknown[]);
  try {
    const client = (await runner.connect()) as PoolClient;
    try {
      const result = await client.query<T & Record<string, unknown>>(name ? { name, text, values: params as unknown[] } : { text, values: params as unknown[] });
      return result.rows;
    } catch (error) {
      throw new QueryFailedError(text, params as unknown[], error as Error);
    }
  } finally {
    if (q instanceof DataSource) await runner.release();
  }
}

function nameFor(text: string): string | undefined {
  const known = names.get(text);
  if (known || names.size >= MAX_NAMED) return known;
  const name = `portolan_${names.size + 1}`;
  names.set(text, name);
  return name;
}
