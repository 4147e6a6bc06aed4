import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';

/** The operator token a REST call was made with (`CurrentOperator`), as the audit log names it. */
export interface AuditCaller {
  readonly id: string;
  readonly name: string;
}

/**
 * One line of the audit log, in the caller's transaction: who did what to which subject, and why.
 * `actor` is who the call names; unnamed, the name of the operator token the REST call was made
 * with (`caller`). That token is written beside it (`caller_token_id`, `caller_name`), whatever
 * the body says. The caller is passed down from the controller, not kept in an
 * `AsyncLocalStorage`: on Node 20 one of those, once used, makes every promise of the process
 * (the agent API's too) cost about three times as much.
 */
export async function audit(manager: EntityManager, caller: AuditCaller | undefined, actor: string | undefined, action: string, subjectId: string, justification: string | null, details: Record<string, unknown> | null, subjectType = 'planned-change'): Promise<void> {
  await manager.query('INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, justification, details, caller_token_id, caller_name) VALUES ($1, now(), $2, $3, $4, $5, $6, $7, $8, $9)', [
    randomUUID(),
    actor ?? caller?.name ?? 'api',
    action,
    subjectType,
    subjectId,
    justification,
    details === null ? null : JSON.stringify(details),
    caller?.id ?? null,
    caller?.name ?? null,
  ]);
}
