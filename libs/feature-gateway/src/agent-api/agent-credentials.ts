import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Pure helpers for agent secrets and enrolment tokens: random, hashed at rest, compared in constant time. */

export function newAgentSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function newEnrollmentToken(): string {
  return `pten_${randomBytes(32).toString('base64url')}`;
}

/** Secrets and tokens are 256 random bits, so one SHA-256 is enough at rest (no slow KDF needed). */
export function hashCredential(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function credentialMatches(value: string, hash: Buffer): boolean {
  const candidate = hashCredential(value);
  return hash.length === candidate.length && timingSafeEqual(candidate, hash);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `Bearer <agentId>.<secret>` → its parts; undefined when the header is missing or malformed. */
export function parseAgentAuthorization(header: string | undefined): { agentId: string; secret: string } | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([^.\s]+)\.([A-Za-z0-9_-]{16,128})$/.exec(header.trim());
  if (!match || !UUID.test(match[1])) return undefined;
  return { agentId: match[1].toLowerCase(), secret: match[2] };
}
