import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { ActorSchema } from '../http/actor';
import { UUID_PARAM, ZodValidationPipe } from '../http/zod-validation.pipe';
import { HubCertificatesService, HubCertificateView } from './hub-certificates.service';
import { CurrentOperator } from '../operators/operator-auth.guard';
import type { OperatorIdentity } from '../operators/operator-tokens.service';

const RetireSchema = z
  .object({
    retiredBy: ActorSchema.optional(),
    /** Retire it although a gateway registered it as served within the last two hours. */
    force: z.boolean().optional(),
  })
  .strict();

/** The certificates the hub's gateways serve or have staged, as pinning agents are told of them. */
@Controller('hub-certificates')
export class HubCertificatesController {
  constructor(private readonly certificates: HubCertificatesService) {}

  @Get()
  async list(): Promise<{ items: HubCertificateView[] }> {
    return { items: await this.certificates.list() };
  }

  /** Stops announcing the certificate to agents; audited. */
  @Post(':id/retire')
  @HttpCode(200)
  retire(@Param('id', UUID_PARAM) id: string, @Body(new ZodValidationPipe(RetireSchema)) body: z.infer<typeof RetireSchema>, @CurrentOperator() operator: OperatorIdentity): Promise<HubCertificateView> {
    return this.certificates.retire(id, body.retiredBy ?? operator.name, body.force ?? false, operator);
  }
}
