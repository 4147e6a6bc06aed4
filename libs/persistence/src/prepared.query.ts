import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import type { PoolClient } from 'pg';
import { isEmbedded } from './data-source.factory';

/** Where a statement runs: the data source (the statement is its own transaction) or a transaction's manager. */
export type Queryable = DataSource | EntityManager;

/** Statement texts given a name; past this many, a new text runs unnamed (its text varies with its data: a caller's mistake). */
const MAX_NAMED = 256;
const names = new Map<string, string>();
/** The statements each connection has prepared. */
const preparedOn = new WeakMap<PoolClient, Set<string>>();

/**
 * Runs a statement that a hot path runs again and again as a named (prepared) statement on
 * Postgres: each connection parses, analyses and plans it once and keeps that generic plan
 * (`plan_cache_mode`, set on every connection by `createDataSource`), instead of doing all of
 * that for every run. For the agent ingests' statements, with their CTEs, planning cost more
 * than running: the batch read of 10 uploads took 630 µs of its backend's CPU unnamed, 230 µs
 * named (2,000 runs each, 2026-12-05).
 *
 * A generic plan lasts until a table it reads is analysed again, so it must not depend on the
 * table being small when it was made: made on a new hub's empty tables, a lookup by id was a
 * sequential scan, of tables that then grew by thousands of rows a second. The first run on a
 * connection is therefore planned with sequential scans off (every lookup of these statements
 * has an index); plans made again after an ANALYZE use the real figures.
 *
 * Answers the rows, and fails as `query` fails (a `QueryFailedError` carrying the driver's
 * error). On PGlite (one in-process session) it is a plain query.
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
    const values = params as unknown[];
    try {
      if (!name) return (await client.query<T & Record<string, unknown>>({ text, values })).rows;
      let prepared = preparedOn.get(client);
      if (prepared?.has(name)) return (await client.query<T & Record<string, unknown>>({ name, text, values })).rows;
      if (!prepared) preparedOn.set(client, (prepared = new Set()));
      await client.query('SET enable_seqscan = off');
      const rows = (await client.query<T & Record<string, unknown>>({ name, text, values })).rows;
      prepared.add(name);
      await client.query('RESET enable_seqscan');
      return rows;
    } catch (error) {
      // Outside a transaction the session carries on: put the setting back. Inside one, the
      // failure aborted it, and its rollback undoes the SET.
      if (!runner.isTransactionActive) await client.query('RESET enable_seqscan').catch(() => undefined);
      throw new QueryFailedError(text, values, error as Error);
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
