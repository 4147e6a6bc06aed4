export { GatewayModule } from './gateway.module';
export { startHttpService } from './http/http.bootstrap';
export type { HttpServiceOptions, RunningHttpService } from './http/http.bootstrap';
export { buildOpenApiDocument } from './openapi/openapi.document';
