import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';

/** One line of the audit log, in the caller's transaction: who did what to which subject, and why. */
export async function audit(manager: EntityManager, actor: string, action: string, subjectId: string, justification: string | null, details: Record<string, unknown> | null, subjectType = 'planned-change'): Promise<void> {
  await manager.query('INSERT INTO audit_log (id, at, actor, action, subject_type, subject_id, justification, details) VALUES ($1, now(), $2, $3, $4, $5, $6, $7)', [
    randomUUID(),
    actor,
    action,
    subjectType,
    subjectId,
    justification,
    details === null ? null : JSON.stringify(details),
  ]);
}
