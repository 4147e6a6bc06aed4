import { Body, Controller, Get, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import {
  AgentConfig,
  AgentHostReport,
  AgentHostReportSchema,
  DomainError,
  EnrolRequest,
  EnrolRequestSchema,
  EnrolResponse,
  ReenrolRequest,
  ReenrolRequestSchema,
  RotateSecretResponse,
} from '@portolan/contracts';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { AgentAuthGuard, CurrentAgent } from './agent-auth.guard';
import { AgentBoots } from './agent-boots';
import { AgentConfigService } from './agent-config.service';
import { AuthenticatedAgent } from './agent.directory';
import { AgentSecretsService } from './agent-secrets.service';
import { ENROL_RATE_LIMITER } from './agent-api.tokens';
import { EnrolmentService } from './enrolment.service';
import { RateLimiter } from './rate.limiter';
import { Access } from '../operators/route-access';

/**
 * The agent API: what an agent does with the hub, over the connections it opens, apart from its
 * steady polls, scan-start reports and result uploads, which `AgentRoutes` serves ahead of the
 * framework. Each route is marked `agent` (no operator token; it checks the agent itself): a new
 * one without the mark would need an operator token.
 */
@Controller('agent')
export class AgentApiController {
  constructor(
    private readonly enrolment: EnrolmentService,
    private readonly configs: AgentConfigService,
    private readonly secrets: AgentSecretsService,
    private readonly boots: AgentBoots,
    @Inject(ENROL_RATE_LIMITER) private readonly enrolLimiter: RateLimiter,
  ) {}

  @Post('enrol')
  @HttpCode(201)
  @Access('agent')
  enrol(@Body(new ZodValidationPipe(EnrolRequestSchema)) body: EnrolRequest, @Req() request: Request): Promise<EnrolResponse> {
    return this.enrolment.enrol(body, this.enrolling(request));
  }

  /**
   * An identity of its own for a process the hub answered `clone` (it shares the calling agent's
   * identity with another host, which keeps it): enrolled as its host, with a use of the calling
   * agent's enrolment token.
   */
  @Post('reenrol')
  @HttpCode(201)
  @Access('agent')
  @UseGuards(AgentAuthGuard)
  reenrol(@CurrentAgent() agent: AuthenticatedAgent, @Body(new ZodValidationPipe(ReenrolRequestSchema)) body: ReenrolRequest, @Req() request: Request): Promise<EnrolResponse> {
    return this.enrolment.reenrol(agent, body, this.enrolling(request));
  }

  @Get('config')
  @Access('agent')
  @UseGuards(AgentAuthGuard)
  config(@CurrentAgent() agent: AuthenticatedAgent): Promise<AgentConfig> {
    return this.configs.configFor(agent);
  }

  /** The host the calling agent's process runs on, said once a boot: a renamed host or an upgraded system is recorded and announced. */
  @Post('host')
  @HttpCode(204)
  @Access('agent')
  @UseGuards(AgentAuthGuard)
  async host(@CurrentAgent() agent: AuthenticatedAgent, @Body(new ZodValidationPipe(AgentHostReportSchema)) body: AgentHostReport): Promise<void> {
    await this.boots.hostReported(agent, body, new Date());
  }

  /** The caller's address, once the enrolment rate limit lets it enrol. */
  private enrolling(request: Request): string {
    const remote = request.socket.remoteAddress ?? 'unknown';
    const waitMs = this.enrolLimiter.take(remote);
    if (waitMs > 0) throw new DomainError('rate_limited', `too many enrolment attempts from ${remote}; retry in ${waitMs} ms`, { retryAfterMs: waitMs });
    return remote;
  }

  /** A new secret for the calling agent; the old one stops working at once. */
  @Post('rotate-secret')
  @HttpCode(200)
  @Access('agent')
  @UseGuards(AgentAuthGuard)
  rotate(@CurrentAgent() agent: AuthenticatedAgent): Promise<RotateSecretResponse> {
    return this.secrets.rotate(agent.id);
  }
}
