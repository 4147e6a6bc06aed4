import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { loadGatewayConfig, loadPlatformConfig } from '@portolan/config';
import { createLogger, Logger, PinoNestLogger } from '@portolan/logging';
import { LOGGER } from '@portolan/platform';
import { loadTls } from './tls.loader';
import { AgentRoutes } from '../agent-api/agent.routes';
import { HubCertificatesService } from '../hub-certificates/hub-certificates.service';
import { OperatorTokensService } from '../operators/operator-tokens.service';

export interface HttpServiceOptions {
  readonly service: string;
  readonly version: string;
}

export interface RunningHttpService {
  readonly app: NestExpressApplication;
  readonly url: string;
  readonly fingerprint?: string;
}

/**
 * Starts a Nest application that serves the gateway over HTTPS (self-signed on first start
 * unless a certificate is configured; plain HTTP only when GATEWAY_PLAIN_HTTP=true), with the
 * JSON body limit, the /api prefix, pino logs and graceful shutdown.
 */
export async function startHttpService(rootModule: Type, options: HttpServiceOptions): Promise<RunningHttpService> {
  const gateway = loadGatewayConfig();
  const platform = loadPlatformConfig();
  const bootLogger = createLogger({ service: options.service, version: options.version, level: platform.logLevel, instance: platform.instance });
  const tls = gateway.plainHttp ? undefined : await loadTls(gateway, platform.dataDir, bootLogger);
  const app = await NestFactory.create<NestExpressApplication>(rootModule, {
    bodyParser: false,
    bufferLogs: true,
    httpsOptions: tls ? { key: tls.key, cert: tls.cert } : undefined,
  });
  const logger = app.get<Logger>(LOGGER);
  app.useLogger(new PinoNestLogger(logger));
  // Agent result uploads are read by `AgentRoutes` (gzip, their own limits); all else is JSON here.
  app.useBodyParser('json', { limit: gateway.bodyLimitBytes, type: (req) => isJson(req.headers['content-type']) });
  app.disable('x-powered-by');
  // API answers are never cached by validators: no SHA-1 of every body for an ETag.
  app.set('etag', false);
  app.setGlobalPrefix('api');
  app.enableShutdownHooks();
  serveAgentRoutesFirst(app);
  // Announced to pinning agents before this gateway takes a connection.
  await app.init();
  if (tls) await app.get(HubCertificatesService).register(platform.instance, tls, tls.next);
  // The operator API has an admin token before it takes a call (see README, "Operator tokens").
  await app.get(OperatorTokensService).bootstrap(gateway.adminToken, platform.dataDir);
  await app.listen(gateway.port, gateway.host);
  const shownHost = gateway.host === '0.0.0.0' ? '127.0.0.1' : gateway.host;
  const url = `${tls ? 'https' : 'http'}://${shownHost}:${gateway.port}/api`;
  logger.info({ url, tls: tls ? { source: tls.source, fingerprint: tls.fingerprint, next: tls.next?.fingerprint } : 'plain http' }, 'gateway listening');
  return { app, url, fingerprint: tls?.fingerprint };
}

/**
 * Puts `AgentRoutes` in front of Express on the server: the agent's polls and uploads are
 * answered there, everything else goes on to Express (and Nest) as before.
 */
function serveAgentRoutesFirst(app: NestExpressApplication): void {
  const routes = app.get(AgentRoutes);
  const server = app.getHttpServer() as Server;
  const framework = server.listeners('request') as RequestListener[];
  if (framework.length !== 1) throw new Error(`expected the one request listener of Express on the gateway's server, found ${framework.length}`);
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (!routes.handle(request, response)) framework[0](request, response);
  });
}

function isJson(contentType: string | undefined): boolean {
  return /^application\/([\w.+-]*\+)?json\b/i.test(contentType ?? '');
}
