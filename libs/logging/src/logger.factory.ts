import pino, { Logger } from 'pino';

/** Field paths that may carry secrets; pino replaces their values before a line is written. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'databaseUrl',
  '*.databaseUrl',
  'privateKey',
  '*.privateKey',
  'passphrase',
  '*.passphrase',
  'enableSecret',
  '*.enableSecret',
  'masterKeys',
  '*.masterKeys',
];

export type { Logger };

export interface LoggerOptions {
  readonly service: string;
  readonly version: string;
  readonly level: string;
  readonly instance?: string;
}

/** pino JSON logs to stdout (or `destination`), every line carrying the service name and version, the instance name and the pid (processes on one host share its name by default). */
export function createLogger(options: LoggerOptions, destination?: pino.DestinationStream): Logger {
  const settings: pino.LoggerOptions = {
    level: options.level,
    base: { service: options.service, version: options.version, instance: options.instance, pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(settings, destination) : pino(settings);
}

/** Removes credentials from a connection URL so it can be logged. */
export function redactUrl(url: string | undefined): string | undefined {
  if (!url) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
