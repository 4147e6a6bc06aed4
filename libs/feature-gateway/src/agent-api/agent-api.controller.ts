import { Body, Controller, Get, Headers, HttpCode, Inject, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  AgentConfig,
  AgentPollQuery,
  AgentPollQuerySchema,
  AgentPollResponse,
  AgentResultResponse,
  AgentResultSchema,
  AgentScanStarted,
  AgentScanStartedSchema,
  DomainError,
  EnrolRequest,
  EnrolRequestSchema,
  EnrolResponse,
  RotateSecretResponse,
} from '@portolan/contracts';
import { GatewayConfig } from '@portolan/config';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { AgentAuthGuard, CurrentAgent } from './agent-auth.guard';
import { AgentConfigService } from './agent-config.service';
import { AgentPollService } from './agent-poll.service';
import { AgentResultsService } from './agent-results.service';
import { AuthenticatedAgent } from './agent.directory';
import { AgentSecretsService } from './agent-secrets.service';
import { ENROL_RATE_LIMITER, GATEWAY_CONFIG } from './agent-api.tokens';
import { EnrolmentService } from './enrolment.service';
import { RateLimiter } from './rate.limiter';
import { readJsonUpload } from './upload.reader';

/** The agent API: everything an agent does with the hub, over the connections it opens. */
@Controller('agent')
export class AgentApiController {
  constructor(
    private readonly enrolment: EnrolmentService,
    private readonly configs: AgentConfigService,
    private readonly polls: AgentPollService,
    private readonly results: AgentResultsService,
    private readonly secrets: AgentSecretsService,
    @Inject(ENROL_RATE_LIMITER) private readonly enrolLimiter: RateLimiter,
    @Inject(GATEWAY_CONFIG) private readonly gateway: GatewayConfig,
  ) {}

  @Post('enrol')
  @HttpCode(201)
  enrol(@Body(new ZodValidationPipe(EnrolRequestSchema)) body: EnrolRequest, @Req() request: Request): Promise<EnrolResponse> {
    const remote = request.socket.remoteAddress ?? 'unknown';
    const waitMs = this.enrolLimiter.take(remote);
    if (waitMs > 0) throw new DomainError('rate_limited', `too many enrolment attempts from ${remote}; retry in ${waitMs} ms`, { retryAfterMs: waitMs });
    return this.enrolment.enrol(body, remote);
  }

  @Get('config')
  @UseGuards(AgentAuthGuard)
  config(@CurrentAgent() agent: AuthenticatedAgent): Promise<AgentConfig> {
    return this.configs.configFor(agent);
  }

  /** Heartbeat and long-poll for runs the hub asks of the agent. */
  @Get('jobs')
  @UseGuards(AgentAuthGuard)
  jobs(
    @CurrentAgent() agent: AuthenticatedAgent,
    @Query(new ZodValidationPipe(AgentPollQuerySchema, 'query')) query: AgentPollQuery,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<AgentPollResponse> {
    const closed = new Promise<void>((resolve) => response.once('close', () => resolve()));
    request.setTimeout((query.wait + 15) * 1000);
    return this.polls.poll(agent, query, closed);
  }

  @Post('scans')
  @HttpCode(202)
  @UseGuards(AgentAuthGuard)
  started(@CurrentAgent() agent: AuthenticatedAgent, @Body(new ZodValidationPipe(AgentScanStartedSchema)) body: AgentScanStarted): Promise<{ jobId: string }> {
    return this.results.started(agent, body);
  }

  /** A finished or failed run (gzip JSON, Idempotency-Key). 202 when accepted, 200 for a replay. */
  @Post('results')
  @UseGuards(AgentAuthGuard)
  async upload(
    @CurrentAgent() agent: AuthenticatedAgent,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<AgentResultResponse> {
    const raw = await readJsonUpload(request, { maxBytes: this.gateway.agentUploadLimitBytes, maxInflatedBytes: this.gateway.agentUploadInflatedLimitBytes });
    const result = new ZodValidationPipe(AgentResultSchema, 'result').transform(raw);
    const answer = await this.results.accept(agent, idempotencyKey, result);
    response.status(answer.duplicate ? 200 : 202);
    return answer;
  }

  /** A new secret for the calling agent; the old one stops working at once. */
  @Post('rotate-secret')
  @HttpCode(200)
  @UseGuards(AgentAuthGuard)
  rotate(@CurrentAgent() agent: AuthenticatedAgent): Promise<RotateSecretResponse> {
    return this.secrets.rotate(agent.id);
  }
}
