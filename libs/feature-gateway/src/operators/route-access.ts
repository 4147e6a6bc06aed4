import { SetMetadata } from '@nestjs/common';

/**
 * Who may call a route of the REST API. Every route is `operator` unless it says otherwise: a
 * valid operator token, any role for reads, `admin` for the rest.
 * - `public`: anyone (health, the API description);
 * - `agent`: agents, which authenticate themselves on those routes (enrolment token, agent secret);
 * - `admin`: only an admin token, even to read (the operator tokens themselves).
 */
export type RouteAccess = 'public' | 'agent' | 'operator' | 'admin';

export const ROUTE_ACCESS = 'portolan:route-access';

export const Access = (access: RouteAccess): MethodDecorator & ClassDecorator => SetMetadata(ROUTE_ACCESS, access);
