import { DomainError } from '@portolan/contracts/errors';

/** Why a scan failed; carried in `DomainError.details.reason` next to code 'scan_failed'. */
export type ScanFailureReason =
  | 'timeout'
  | 'cancelled'
  | 'nmap_error'
  | 'exit_status'
  | 'no_hosts'
  | 'malformed_output'
  | 'spawn_failed'
  | 'local_resources';

export function scanFailed(
  reason: ScanFailureReason,
  message: string,
  details: Record<string, unknown> = {},
): DomainError {
  return new DomainError('scan_failed', message, { reason, ...details });
}

export function scanFailureReason(error: unknown): ScanFailureReason | undefined {
  if (error instanceof DomainError && error.code === 'scan_failed') {
    return error.details['reason'] as ScanFailureReason | undefined;
  }
  return undefined;
}

export function timedOut(engine: string, timeoutMs: number): DomainError {
  return scanFailed('timeout', `${engine} scan did not finish within ${timeoutMs} ms and was stopped`, {
    timeoutMs,
  });
}

export function cancelled(engine: string): DomainError {
  return scanFailed('cancelled', `${engine} scan was cancelled`);
}

/** The longest delay a Node timer keeps (2^31 - 1 ms, about 24.8 days): a longer one fires at once. A scan's timeout is cut to it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
