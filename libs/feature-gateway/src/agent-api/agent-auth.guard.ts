import type { IncomingMessage, ServerResponse } from 'node:http';
import { CanActivate, ExecutionContext, Inject, Injectable, createParamDecorator } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '@portolan/contracts';
import { AuthenticatedAgent, AgentDirectory } from './agent.directory';
import { AGENT_RATE_LIMITER } from './agent-api.tokens';
import { RateLimiter } from './rate.limiter';

type AgentRequest = Request & { agent?: AuthenticatedAgent };

/** The agent's Nest routes except enrolment: authenticate, then the per-agent rate limit (429 with Retry-After). */
@Injectable()
export class AgentAuthGuard implements CanActivate {
  constructor(
    private readonly directory: AgentDirectory,
    @Inject(AGENT_RATE_LIMITER) private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AgentRequest>();
    request.agent = await authenticateAgent(this.directory, this.limiter, request, context.switchToHttp().getResponse<Response>());
    return true;
  }
}

/**
 * The caller's credentials, then its per-agent rate limit: over it is a 429 with Retry-After.
 * Shared by the guard (Nest routes) and `AgentRoutes` (the routes served ahead of Nest).
 */
export async function authenticateAgent(directory: AgentDirectory, limiter: RateLimiter, request: IncomingMessage, response: Pick<ServerResponse, 'setHeader'>): Promise<AuthenticatedAgent> {
  const agent = await directory.authenticate(request.headers.authorization, request.socket.remoteAddress);
  const waitMs = limiter.take(agent.id);
  if (waitMs > 0) {
    response.setHeader('Retry-After', String(Math.ceil(waitMs / 1000)));
    throw new DomainError('rate_limited', `agent ${agent.id} is over its request rate; retry in ${waitMs} ms`, { retryAfterMs: waitMs });
  }
  return agent;
}

/** The authenticated agent of the request (set by AgentAuthGuard). */
export const CurrentAgent = createParamDecorator((_data: unknown, context: ExecutionContext): AuthenticatedAgent => {
  const agent = context.switchToHttp().getRequest<AgentRequest>().agent;
  if (!agent) throw new Error('CurrentAgent used on a route without AgentAuthGuard');
  return agent;
});
