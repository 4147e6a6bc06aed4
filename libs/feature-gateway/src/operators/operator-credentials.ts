import { randomBytes } from 'node:crypto';
import type { OperatorRole } from '@portolan/persistence';

/** Pure helpers of operator tokens: made, read from a header, and what a role may do. */

export const OPERATOR_TOKEN_PREFIX = 'ptop_';

export function newOperatorToken(): string {
  return `${OPERATOR_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The first characters of a token, shown in lists to tell tokens apart (never enough to use). */
export function operatorTokenHint(token: string): string {
  return token.slice(0, 9);
}

export type BearerReading = { kind: 'token'; token: string } | { kind: 'missing' } | { kind: 'malformed' } | { kind: 'agent' };

const AGENT_CREDENTIALS = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{16,128}$/i;

/** `Authorization: Bearer <token>`; an agent's `<agentId>.<secret>` is told apart, to say so. */
export function readBearer(header: string | undefined): BearerReading {
  if (header === undefined || header.trim() === '') return { kind: 'missing' };
  const match = /^Bearer +([\x21-\x7e]{1,256})$/i.exec(header.trim());
  if (!match) return { kind: 'malformed' };
  if (AGENT_CREDENTIALS.test(match[1])) return { kind: 'agent' };
  return { kind: 'token', token: match[1] };
}

const READING_METHODS = new Set(['GET', 'HEAD']);

/** An admin may call anything; a viewer only reads. */
export function roleMayCall(role: OperatorRole, method: string): boolean {
  return role === 'admin' || READING_METHODS.has(method.toUpperCase());
}
