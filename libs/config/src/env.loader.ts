import { z } from 'zod';
import { DomainError } from '@portolan/contracts';

export type Env = Readonly<Record<string, string | undefined>>;

const secrets = new WeakSet<z.ZodType>();

/** Marks a config field as secret: it is redacted wherever the config is printed. */
export function secret<T extends z.ZodType>(schema: T): T {
  secrets.add(schema);
  return schema;
}

/**
 * Builds one typed config object from environment variables. `shape` maps each field to its
 * variable name and schema; a bad value fails fast naming the variable, never echoing a secret.
 */
export function loadConfig<S extends Record<string, { env: string; schema: z.ZodType }>>(
  shape: S,
  env: Env = process.env,
): { [K in keyof S]: z.infer<S[K]['schema']> } {
  const result: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [field, { env: name, schema }] of Object.entries(shape)) {
    const raw = env[name];
    const parsed = schema.safeParse(raw === '' ? undefined : raw);
    if (parsed.success) result[field] = parsed.data;
    else {
      const shown = isSecret(schema) || raw === undefined ? '' : ` (got "${raw.slice(0, 80)}")`;
      problems.push(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}${shown}`);
    }
  }
  if (problems.length) throw new DomainError('invalid_config', `invalid configuration: ${problems.join(', ')}`, { problems });
  return result as { [K in keyof S]: z.infer<S[K]['schema']> };
}

/** A printable copy of a config with secret fields replaced. */
export function redactConfig(shape: Record<string, { env: string; schema: z.ZodType }>, config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, shape[k] && isSecret(shape[k].schema) && v !== undefined ? '[redacted]' : v]));
}

function isSecret(schema: z.ZodType): boolean {
  return secrets.has(schema);
}

/** Reusable field schemas. */
export const fields = {
  port: (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().min(1).default(fallback),
  boolean: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
      .optional()
      .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes'].includes(v))),
  url: (protocols: string[]) =>
    z
      .string()
      .optional()
      .refine((v) => v === undefined || v.split(',').every((u) => protocols.some((p) => u.trim().startsWith(`${p}://`))), {
        message: `expected a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`,
      }),
  text: (fallback: string) => z.string().default(fallback),
  optionalText: () => z.string().optional(),
};
