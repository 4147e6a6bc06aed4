/**
 * An error the user (or an operator) can act on. `code` is stable and machine-readable; the
 * HTTP and message edges map codes to responses in one place. `details` carries structured
 * facts (the offending token, its position) and must never hold a secret.
 */
export type DomainErrorCode =
  | 'invalid_target'
  | 'invalid_port_spec'
  | 'out_of_scope'
  | 'invalid_payload'
  | 'not_found'
  | 'conflict'
  | 'scan_failed'
  | 'engine_unavailable'
  | 'invalid_config'
  | 'invalid_output'
  | 'unauthorized'
  /** Authenticated, but the caller's role does not allow this (a viewer token writing). */
  | 'forbidden'
  | 'rate_limited'
  /** The service is overloaded for the moment; the same request later will do. */
  | 'busy'
  | 'too_large';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
