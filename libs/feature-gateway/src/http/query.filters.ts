import { z } from 'zod';

/** A query-string flag: `true` or `false`, nothing else. */
export const QueryFlag = z.enum(['true', 'false']).transform((v) => v === 'true');

/** A `LIKE … ESCAPE '\'` pattern matching text that contains `text`, its own `%`, `_` and `\` taken literally. */
export function containsLike(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}
