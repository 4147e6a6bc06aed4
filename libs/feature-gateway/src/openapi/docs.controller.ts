import { Controller, Get, Inject } from '@nestjs/common';
import { SERVICE_INFO, ServiceInfo } from '@portolan/platform';
import { buildOpenApiDocument } from './openapi.document';
import { Access } from '../operators/route-access';

@Controller('docs')
@Access('public')
export class DocsController {
  private readonly document: Record<string, unknown>;

  constructor(@Inject(SERVICE_INFO) service: ServiceInfo) {
    this.document = buildOpenApiDocument(service.version);
  }

  @Get()
  get(): Record<string, unknown> {
    return this.document;
  }
}
