export { createLogger, REDACTED_PATHS, redactUrl } from './logger.factory';
export type { Logger, LoggerOptions } from './logger.factory';
export { PinoNestLogger } from './nest-logger.adapter';
