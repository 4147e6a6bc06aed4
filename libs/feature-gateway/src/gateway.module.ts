import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GatewayConfig, loadGatewayConfig } from '@portolan/config';
import { AgentUploadOutbox, EventRecorder, ScanJobLedger } from '@portolan/platform';
import { AgentApiController } from './agent-api/agent-api.controller';
import { AGENT_RATE_LIMITER, ENROL_RATE_LIMITER, GATEWAY_CONFIG } from './agent-api/agent-api.tokens';
import { AgentAuthGuard } from './agent-api/agent-auth.guard';
import { AgentConfigService } from './agent-api/agent-config.service';
import { AgentDirectory } from './agent-api/agent.directory';
import { AgentBoots } from './agent-api/agent-boots';
import { AgentHeartbeats } from './agent-api/agent-heartbeats';
import { AgentPollService } from './agent-api/agent-poll.service';
import { AgentRoutes } from './agent-api/agent.routes';
import { AgentResultsService } from './agent-api/agent-results.service';
import { AgentSecretsService } from './agent-api/agent-secrets.service';
import { EnrolmentService } from './agent-api/enrolment.service';
import { RateLimiter } from './agent-api/rate.limiter';
import { ScanStartIngest } from './agent-api/scan-start.ingest';
import { UploadIngest } from './agent-api/upload.ingest';
import { AgentsController } from './agents/agents.controller';
import { CredentialsController } from './credentials/credentials.controller';
import { CredentialsService } from './credentials/credentials.service';
import { DevicesController } from './devices/devices.controller';
import { DevicesService } from './devices/devices.service';
import { EnrollmentTokensController } from './enrollment/enrollment-tokens.controller';
import { EnrollmentTokensService } from './enrollment/enrollment-tokens.service';
import { EventsController } from './events/events.controller';
import { HealthController } from './health/health.controller';
import { HubCertificatesController } from './hub-certificates/hub-certificates.controller';
import { HubCertificatesService } from './hub-certificates/hub-certificates.service';
import { ErrorFilter } from './http/error.filter';
import { JobsController } from './jobs/jobs.controller';
import { JobsService } from './jobs/jobs.service';
import { DocsController } from './openapi/docs.controller';
import { SitesController } from './sites/sites.controller';
import { WorkersController } from './workers/workers.controller';
import { TrackersController } from './trackers/trackers.controller';
import { AlertingController } from './alerting/alerting.controller';
import { BaselinesController } from './baselines/baselines.controller';
import { BaselinesService } from './baselines/baselines.service';
import { GroupsController } from './groups/groups.controller';
import { ReportsController } from './reports/reports.controller';
import { PlannedChangesController } from './planned-changes/planned-changes.controller';
import { PlannedChangeReevaluator } from './planned-changes/planned-change.reevaluator';
import { PlannedChangesService } from './planned-changes/planned-changes.service';
import { TrackersService } from './trackers/trackers.service';
import { OperatorAuthGuard } from './operators/operator-auth.guard';
import { OperatorTokensController } from './operators/operator-tokens.controller';
import { OperatorTokensService } from './operators/operator-tokens.service';

/** The hub's REST API under /api, and the agent API under /api/agent. */
@Module({
  controllers: [
    SitesController,
    WorkersController,
    CredentialsController,
    DevicesController,
    TrackersController,
    JobsController,
    EventsController,
    HealthController,
    DocsController,
    EnrollmentTokensController,
    AgentsController,
    AgentApiController,
    GroupsController,
    PlannedChangesController,
    BaselinesController,
    ReportsController,
    AlertingController,
    HubCertificatesController,
    OperatorTokensController,
  ],
  providers: [
    DevicesService,
    CredentialsService,
    TrackersService,
    JobsService,
    EnrollmentTokensService,
    EnrolmentService,
    AgentDirectory,
    AgentAuthGuard,
    AgentConfigService,
    HubCertificatesService,
    AgentBoots,
    AgentHeartbeats,
    AgentPollService,
    AgentRoutes,
    AgentResultsService,
    UploadIngest,
    ScanStartIngest,
    AgentSecretsService,
    AgentUploadOutbox,
    EventRecorder,
    ScanJobLedger,
    PlannedChangesService,
    PlannedChangeReevaluator,
    BaselinesService,
    OperatorTokensService,
    { provide: GATEWAY_CONFIG, useFactory: () => loadGatewayConfig() },
    { provide: AGENT_RATE_LIMITER, inject: [GATEWAY_CONFIG], useFactory: (c: GatewayConfig) => new RateLimiter(c.agentRatePerSecond, c.agentRateBurst) },
    { provide: ENROL_RATE_LIMITER, useFactory: () => new RateLimiter(1, 10) },
    { provide: APP_FILTER, useClass: ErrorFilter },
    // Every route needs an operator token unless marked otherwise (`Access`).
    { provide: APP_GUARD, useClass: OperatorAuthGuard },
  ],
})
export class GatewayModule {}
