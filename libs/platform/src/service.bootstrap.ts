import { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger, PinoNestLogger } from '@portolan/logging';
import { LOGGER } from './tokens';

export const PORTOLAN_VERSION = '0.1.0';

/**
 * Starts a service without HTTP (scheduler, scanner, comparer): Nest application context,
 * pino logs, graceful shutdown on SIGTERM/SIGINT.
 */
export async function startWorkerService(rootModule: Type, service: string): Promise<void> {
  const app = await NestFactory.createApplicationContext(rootModule, { bufferLogs: true });
  const logger = app.get<Logger>(LOGGER);
  app.useLogger(new PinoNestLogger(logger));
  app.enableShutdownHooks();
  logger.info({ service }, 'service started');
}

/** Runs `main`, logging a fatal start-up error to stderr and exiting non-zero. */
export function runMain(main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', msg: 'start-up failed', err: error instanceof Error ? error.message : String(error) })}\n`);
    process.exit(1);
  });
}
