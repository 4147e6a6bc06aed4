import { DomainError } from '@portolan/contracts/errors';

/** The DomainError `action` throws; fails the test when it returns or throws something else. */
export function thrownBy(action: () => unknown): DomainError {
  try {
    action();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw new Error(`expected a DomainError, got ${String(error)}`);
  }
  throw new Error('expected a DomainError, but nothing was thrown');
}

/** The DomainError a promise rejects with. */
export async function rejectionOf(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => new Error('expected a DomainError, but the promise resolved'),
    (e: unknown) => e,
  );
  if (error instanceof DomainError) return error;
  throw error instanceof Error ? error : new Error(String(error));
}
