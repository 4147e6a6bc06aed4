import { z } from 'zod';
import { DomainError } from '@portolan/contracts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export const LimitSchema = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

/** Opaque keyset cursor over (timestamp, id), newest first. */
export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) throw new Error('bad');
    return { at: date, id };
  } catch {
    throw new DomainError('invalid_payload', 'cursor is not one this API issued', { field: 'cursor' });
  }
}

export function pageOf<T extends { id: string }>(rows: T[], limit: number, at: (row: T) => Date): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(at(last), last.id) : null };
}

/** Opaque keyset cursor over a listing's sort key of text columns (e.g. site, kind, name). */
export function encodeKeyCursor(key: readonly string[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeKeyCursor(cursor: string, length: number): string[] {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(key) || key.length !== length || !key.every((part) => typeof part === 'string' && part.length <= 256)) throw new Error('bad');
    return key as string[];
  } catch {
    throw new DomainError('invalid_payload', 'cursor is not one this API issued', { field: 'cursor' });
  }
}
