import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { Response } from 'express';
import { randomUUID } from 'node:crypto';
import { DomainErrorCode, isDomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { LOGGER } from '@portolan/platform';

const STATUS: Record<DomainErrorCode, number> = {
  invalid_target: 400,
  invalid_port_spec: 400,
  out_of_scope: 400,
  invalid_payload: 400,
  invalid_config: 400,
  invalid_output: 400,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  busy: 503,
  too_large: 413,
  not_found: 404,
  conflict: 409,
  scan_failed: 502,
  engine_unavailable: 503,
};

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** An error as the API answers it: status, `Retry-After` seconds when there is one, and the body. */
export interface ErrorAnswer {
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly body: { error: Record<string, unknown> };
}

/**
 * The one place where errors become HTTP answers: `{ error: { code, message, details } }`.
 * Domain errors map by code; body-parser errors (bad JSON, too large) are 400s that say so;
 * anything unexpected is a 500 with an error id that is logged with the cause. Used by the
 * Nest filter and by the agent API's own routes (`AgentRoutes`).
 */
export function errorAnswer(exception: unknown, logger: Logger): ErrorAnswer {
  const { status, body } = describe(exception, logger);
  const retryAfterMs = isDomainError(exception) ? exception.details['retryAfterMs'] : undefined;
  return { status, body: { error: body }, retryAfterSeconds: typeof retryAfterMs === 'number' ? Math.max(1, Math.ceil(retryAfterMs / 1000)) : undefined };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const answer = errorAnswer(exception, this.logger);
    if (answer.retryAfterSeconds !== undefined && !response.getHeader('Retry-After')) response.setHeader('Retry-After', String(answer.retryAfterSeconds));
    response.status(answer.status).json(answer.body);
  }
}

function describe(exception: unknown, logger: Logger): { status: number; body: Record<string, unknown> } {
  if (isDomainError(exception)) {
    return { status: STATUS[exception.code] ?? 400, body: { code: exception.code, message: exception.message, details: exception.details } };
  }
  const parserError = exception as BodyParserError;
  if (parserError?.type === 'entity.parse.failed') {
    return { status: 400, body: { code: 'invalid_json', message: `request body is not valid JSON: ${(exception as Error).message}` } };
  }
  if (parserError?.type === 'entity.too.large') {
    return { status: 400, body: { code: 'body_too_large', message: `request body exceeds the limit of ${parserError.limit} bytes` } };
  }
  if (parserError?.type === 'encoding.unsupported' || parserError?.type === 'charset.unsupported') {
    return { status: 400, body: { code: 'invalid_encoding', message: (exception as Error).message } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    // Nest turns body-parser's SyntaxError into a bare BadRequestException carrying its message.
    if (status === 400 && /JSON/.test(exception.message)) {
      return { status, body: { code: 'invalid_json', message: `request body is not valid JSON: ${exception.message}` } };
    }
    const code = status === 404 ? 'not_found' : status === 415 ? 'unsupported_media_type' : 'http_error';
    return { status, body: { code, message: exception.message } };
  }
  const errorId = randomUUID();
  logger.error({ errorId, err: exception instanceof Error ? { message: exception.message, stack: exception.stack } : String(exception) }, 'unhandled error');
  return { status: 500, body: { code: 'internal', message: 'internal error; quote the error id to an administrator', errorId } };
}
