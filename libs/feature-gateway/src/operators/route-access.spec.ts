import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, MODULE_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { GatewayModule } from '../gateway.module';
import { ROUTE_ACCESS, RouteAccess } from './route-access';

type Route = { route: string; access: RouteAccess };

/** Every route of the gateway's controllers with who may call it, as `OperatorAuthGuard` reads it. */
function routes(): Route[] {
  const controllers = Reflect.getMetadata(MODULE_METADATA.CONTROLLERS, GatewayModule) as (new (...args: never[]) => unknown)[];
  const out: Route[] = [];
  for (const controller of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    const classAccess = Reflect.getMetadata(ROUTE_ACCESS, controller) as RouteAccess | undefined;
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = (controller.prototype as Record<string, unknown>)[name];
      if (name === 'constructor' || typeof handler !== 'function' || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
      const path = [base, String(Reflect.getMetadata(PATH_METADATA, handler))].filter((p) => p && p !== '/').join('/');
      out.push({ route: `${method} /api/${path}`, access: (Reflect.getMetadata(ROUTE_ACCESS, handler) as RouteAccess | undefined) ?? classAccess ?? 'operator' });
    }
  }
  return out;
}

describe('who may call each route', () => {
  it('leaves only health, the API description and the agent API without an operator token', () => {
    const open = routes()
      .filter((r) => r.access === 'public' || r.access === 'agent')
      .map((r) => `${r.access} ${r.route}`)
      .sort();
    expect(open).toEqual(['agent GET /api/agent/config', 'agent POST /api/agent/enrol', 'agent POST /api/agent/host', 'agent POST /api/agent/reenrol', 'agent POST /api/agent/rotate-secret', 'public GET /api/docs', 'public GET /api/health']);
  });

  it('keeps the operator tokens to admins, apart from asking who one is', () => {
    const tokens = routes().filter((r) => r.route.includes('/operator-tokens'));
    expect(tokens.map((r) => `${r.access} ${r.route}`).sort()).toEqual([
      'admin GET /api/operator-tokens',
      'admin POST /api/operator-tokens',
      'admin POST /api/operator-tokens/:id/revoke',
      'operator GET /api/operator-tokens/current',
    ]);
  });

  it('finds the routes it checks', () => {
    expect(routes().length).toBeGreaterThan(80);
  });
});
