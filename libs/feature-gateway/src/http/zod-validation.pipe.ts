import { ParseUUIDPipe, PipeTransform } from '@nestjs/common';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';

/** Validates a body or query against a zod schema; the first problems are named in the 400. */
export class ZodValidationPipe<T> implements PipeTransform<unknown, T> {
  constructor(
    private readonly schema: z.ZodType<T>,
    private readonly what = 'request body',
  ) {}

  transform(value: unknown): T {
    const parsed = this.schema.safeParse(value ?? {});
    if (parsed.success) return parsed.data;
    const problems = parsed.error.issues.slice(0, 5).map((issue) => ({
      field: issue.path.map(String).join('.') || '(root)',
      message: issue.message,
    }));
    const summary = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
    throw new DomainError('invalid_payload', `invalid ${this.what}: ${summary}`, { problems });
  }
}

/** Path `:id` parameters: a UUID, or a 400 that says so. */
export const UUID_PARAM = new ParseUUIDPipe({
  exceptionFactory: () => new DomainError('invalid_payload', 'the id in the path must be a UUID', { field: 'id' }),
});
