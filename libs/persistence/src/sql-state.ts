import { QueryFailedError } from 'typeorm';

/** Postgres (and PGlite) SQLSTATEs the hub acts on: a statement that lost a race and can be run again. */
export const SqlState = {
  /** A unique key taken meanwhile. */
  uniqueViolation: '23505',
  /** A row changed since it was read (`portolan_unchanged`), or a serializable transaction's conflict. */
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

/** The SQLSTATE of a failed query, if the error is one. */
export function sqlStateOf(error: unknown): string | undefined {
  return error instanceof QueryFailedError ? (error.driverError as { code?: string } | undefined)?.code : undefined;
}
