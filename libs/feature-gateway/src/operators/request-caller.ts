import { AsyncLocalStorage } from 'node:async_hooks';
import type { OperatorIdentity } from './operator-tokens.service';

/**
 * The operator token a REST call was made with, for what the call writes on its way (the audit
 * log's caller): set by `OperatorAuthGuard` in a store each request gets from `callerScope`.
 */
export const requestCaller = new AsyncLocalStorage<{ operator?: OperatorIdentity }>();

/** Express middleware: each request runs in a store of its own. */
export function callerScope(_request: unknown, _response: unknown, next: () => void): void {
  requestCaller.run({}, next);
}
