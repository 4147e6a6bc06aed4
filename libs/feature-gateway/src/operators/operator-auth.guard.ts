import { CanActivate, ExecutionContext, Injectable, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { isDomainError } from '@portolan/contracts';
import { OperatorIdentity, OperatorTokensService } from './operator-tokens.service';
import { ROUTE_ACCESS, RouteAccess } from './route-access';

type OperatorRequest = Request & { operator?: OperatorIdentity };

/**
 * The REST API's one gate, global: every route needs an operator token unless it is marked
 * `public` or `agent` (see `Access`). A 401 carries `WWW-Authenticate: Bearer`.
 */
@Injectable()
export class OperatorAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: OperatorTokensService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const access = this.reflector.getAllAndOverride<RouteAccess | undefined>(ROUTE_ACCESS, [context.getHandler(), context.getClass()]) ?? 'operator';
    if (access === 'public' || access === 'agent') return true;
    const request = context.switchToHttp().getRequest<OperatorRequest>();
    const path = request.path;
    try {
      request.operator = await this.tokens.authenticate(request.headers.authorization, path, request.socket.remoteAddress);
      this.tokens.authorize(request.operator, access, request.method, path);
    } catch (error) {
      if (isDomainError(error) && error.code === 'unauthorized') context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="portolan"');
      throw error;
    }
    return true;
  }
}

/** The operator token of the request (set by OperatorAuthGuard on operator and admin routes). */
export const CurrentOperator = createParamDecorator((_data: unknown, context: ExecutionContext): OperatorIdentity => {
  const operator = context.switchToHttp().getRequest<OperatorRequest>().operator;
  if (!operator) throw new Error('CurrentOperator used on a route that is not an operator route');
  return operator;
});
