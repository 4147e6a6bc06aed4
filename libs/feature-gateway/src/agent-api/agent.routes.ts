import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { AGENT_BOOT_HEADER, AGENT_CLOCK_HEADER, DomainError, UuidSchema, AgentPollQuery, AgentPollQuerySchema, AgentResult, AgentResultSchema, AgentScanProgress, AgentScanProgressSchema, AgentScanStarted, AgentScanStartedSchema, isExactAgentResult } from '@portolan/contracts';
import { GatewayConfig } from '@portolan/config';
import { Logger } from '@portolan/logging';
import { LOGGER } from '@portolan/platform';
import { errorAnswer } from '../http/error.filter';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { authenticateAgent } from './agent-auth.guard';
import { AgentBoots } from './agent-boots';
import { AgentClock, readAgentClock } from './agent-clock';
import { AgentDirectory, AuthenticatedAgent } from './agent.directory';
import { AGENT_RATE_LIMITER, GATEWAY_CONFIG } from './agent-api.tokens';
import { AgentPollService } from './agent-poll.service';
import { AgentResultsService } from './agent-results.service';
import { RateLimiter } from './rate.limiter';
import { readJsonUpload } from './upload.reader';

const JOBS = '/api/agent/jobs';
const RESULTS = '/api/agent/results';
const SCANS = '/api/agent/scans';
const PROGRESS = '/api/agent/progress';
/** A scan-start or progress report is a few hundred bytes. */
const SCAN_REPORT_LIMITS = { maxBytes: 16 * 1024, maxInflatedBytes: 64 * 1024, what: 'scan-start report' };
const PROGRESS_REPORT_LIMITS = { ...SCAN_REPORT_LIMITS, what: 'progress report' };
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The calls every agent makes all the time, served straight from the HTTP server ahead of
 * Express and Nest: the long-poll (`GET /api/agent/jobs`), and for each run the scan-start
 * report (`POST /api/agent/scans`), its progress (`POST /api/agent/progress`) and the result
 * upload (`POST /api/agent/results`). At fleet
 * scale they are nearly all of the gateway's requests, and
 * the framework's routing, guards, pipes and reply cost more than the work itself. They keep
 * the API's contract exactly: the same authentication and per-agent rate limit as the Nest
 * routes (`authenticateAgent`), the same validation, and errors answered by `errorAnswer`, as the rest of
 * the API answers them. Every other agent call (enrol, config, rotate-secret) is a Nest
 * route in `AgentApiController`.
 */
@Injectable()
export class AgentRoutes {
  private readonly pollQuery = new ZodValidationPipe<AgentPollQuery>(AgentPollQuerySchema, 'query');
  private readonly resultBody = new ZodValidationPipe<AgentResult>(AgentResultSchema, 'result');
  private readonly scanBody = new ZodValidationPipe<AgentScanStarted>(AgentScanStartedSchema);
  private readonly progressBody = new ZodValidationPipe<AgentScanProgress>(AgentScanProgressSchema);
  /** At most one check a `HELD_CHECK_MS` for each process (`holdDuplicated`); the rate limiter's buckets, one token each. */
  private readonly heldChecks = new RateLimiter(1000 / HELD_CHECK_MS, 1);

  constructor(
    private readonly directory: AgentDirectory,
    @Inject(AGENT_RATE_LIMITER) private readonly limiter: RateLimiter,
    private readonly polls: AgentPollService,
    private readonly results: AgentResultsService,
    private readonly boots: AgentBoots,
    @Inject(GATEWAY_CONFIG) private readonly gateway: GatewayConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Serves the request if it is one of these routes and returns true; false leaves it to Express. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '';
    const mark = url.indexOf('?');
    const path = trimSlash(mark < 0 ? url : url.slice(0, mark));
    if (path === JOBS && request.method === 'GET') void this.answer(response, () => this.jobs(request, response, mark < 0 ? '' : url.slice(mark + 1)));
    else if (path === RESULTS && request.method === 'POST') void this.answer(response, () => this.upload(request, response));
    else if (path === SCANS && request.method === 'POST') void this.answer(response, () => this.scanStarted(request, response));
    else if (path === PROGRESS && request.method === 'POST') void this.answer(response, () => this.progress(request, response));
    else return false;
    return true;
  }

  private async jobs(request: IncomingMessage, response: ServerResponse, search: string): Promise<[number, unknown]> {
    const { agent, clock } = await this.caller(request, response);
    const query = this.pollQuery.transform(Object.fromEntries(new URLSearchParams(search)));
    const closed = new Promise<void>((resolve) => response.once('close', () => resolve()));
    request.setTimeout((query.wait + 15) * 1000);
    return [200, await this.polls.poll(agent, query, clock, closed, header(request, AGENT_BOOT_HEADER) === query.boot)];
  }

  private async upload(request: IncomingMessage, response: ServerResponse): Promise<[number, unknown]> {
    const { agent, clock } = await this.caller(request, response);
    await this.holdDuplicated(agent, 'results', request);
    const body = await readJsonUpload(request, { maxBytes: this.gateway.agentUploadLimitBytes, maxInflatedBytes: this.gateway.agentUploadInflatedLimitBytes });
    // An upload exactly as the schema would give it back is used as it is; any other the schema parses (or refuses, saying why).
    const result = isExactAgentResult(body.json) ? body.json : this.resultBody.transform(body.json);
    const answer = await this.results.accept(agent, header(request, 'idempotency-key'), result, body.gzip(), clock);
    return [answer.duplicate ? 200 : 202, answer];
  }

  private async scanStarted(request: IncomingMessage, response: ServerResponse): Promise<[number, unknown]> {
    const { agent, clock } = await this.caller(request, response);
    await this.holdDuplicated(agent, 'scan reports', request);
    const report = this.scanBody.transform((await readJsonUpload(request, SCAN_REPORT_LIMITS)).json);
    return [202, await this.results.started(agent, report, clock, this.boot(request))];
  }

  private async progress(request: IncomingMessage, response: ServerResponse): Promise<[number, unknown]> {
    const { agent, clock } = await this.caller(request, response);
    await this.holdDuplicated(agent, 'progress reports', request);
    const report = this.progressBody.transform((await readJsonUpload(request, PROGRESS_REPORT_LIMITS)).json);
    return [202, await this.results.progress(agent, report, clock, this.boot(request))];
  }

  /** The calling process's boot (its header), when a uuid. */
  private boot(request: IncomingMessage): string | undefined {
    const boot = header(request, AGENT_BOOT_HEADER);
    return boot !== undefined && UuidSchema.safeParse(boot).success ? boot : undefined;
  }

  /**
   * The calling agent (authenticated, rate-limited), and its clock as the call shows it, against
   * the hub's when its headers arrived (read after authentication: bad credentials answer 401 first).
   */
  private async caller(request: IncomingMessage, response: ServerResponse): Promise<{ agent: AuthenticatedAgent; clock: AgentClock }> {
    const receivedAtMs = Date.now();
    const agent = await authenticateAgent(this.directory, this.limiter, request, response);
    return { agent, clock: readAgentClock(header(request, AGENT_CLOCK_HEADER), receivedAtMs) };
  }

  /**
   * Results and scan reports of an identity that two processes poll with (`agent-duplicated`) would
   * mix two hosts' ports under one device: those of the process that keeps the identity (its boot
   * in `X-Portolan-Agent-Boot`) are taken; the others are answered 503 with Retry-After, which
   * agents take as "try later" and keep in their spools, until the other process has an identity
   * of its own (it is told so by its polls) or is gone. A held call asks whether the keeper is gone
   * (`AgentBoots.heldCall`, at most every `HELD_CHECK_MS` for a process at this replica): a restart
   * of the keeper that polls alone then takes its place, and its call is taken.
   */
  private async holdDuplicated(agent: AuthenticatedAgent, what: string, request: IncomingMessage): Promise<void> {
    if (!agent.duplicated) return;
    const boot = this.boot(request);
    if (boot !== undefined && (boot === agent.keptBoot || (this.heldChecks.take(`${agent.id} ${boot}`) === 0 && (await this.keeperGone(agent, boot))))) return;
    throw new DomainError(
      'busy',
      `agent ${agent.id}: two processes poll with this identity (agent-duplicated), so its ${what} are held until the other process has one of its own or is gone`,
      { retryAfterMs: DUPLICATED_RETRY_AFTER_S * 1000, duplicated: true },
    );
  }

  /** Whether `boot` keeps the identity now (`AgentBoots.heldCall`); when that cannot be told, the call stays held. */
  private keeperGone(agent: AuthenticatedAgent, boot: string): Promise<boolean> {
    return this.boots.heldCall(agent, boot, new Date()).catch((error: unknown) => {
      this.logger.warn({ agentId: agent.id, err: String(error) }, 'could not tell whether the process keeping a duplicated agent identity is gone; its call is held');
      return false;
    });
  }

  private async answer(response: ServerResponse, work: () => Promise<[number, unknown]>): Promise<void> {
    let status: number;
    let body: unknown;
    try {
      [status, body] = await work();
    } catch (error) {
      const answer = errorAnswer(error, this.logger);
      if (answer.retryAfterSeconds !== undefined && !response.hasHeader('Retry-After')) response.setHeader('Retry-After', String(answer.retryAfterSeconds));
      [status, body] = [answer.status, answer.body];
    }
    if (response.headersSent || response.destroyed) return;
    const json = JSON.stringify(body);
    response.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json) });
    response.end(json);
  }
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** How long an agent whose identity two processes use is told to wait before it sends again. */
const DUPLICATED_RETRY_AFTER_S = 60;
/** How often a replica asks, for one process of an agent, whether the process that kept its identity is gone (`holdDuplicated`). */
const HELD_CHECK_MS = 15_000;
