import { z } from 'zod';
import { CreateCredentialSchema, UpdateCredentialSchema } from '../credentials/credentials.service';
import { CreateDeviceSchema } from '../devices/devices.service';
import { EventCountsQuerySchema, ExportEventsQuerySchema, ListEventsQuerySchema } from '../events/events.controller';
import {
  ApprovePlannedChangeSchema,
  ConfirmProposalsSchema,
  CreatePlannedChangeSchema,
  ExtendWithEventsSchema,
  ListPlannedChangesSchema,
  PlanFromEventsSchema,
  ReevaluateSchema,
  UpdatePlannedChangeSchema,
} from '../planned-changes/planned-change.dto';
import { CreateSiteSchema } from '../sites/sites.controller';
import { ExpectPortSchema, HistoryQuerySchema, PromoteSchema, RemoveItemSchema } from '../baselines/baseline.dto';
import { ExposureQuerySchema, OpenAtQuerySchema, PlannedSummaryQuerySchema } from '../reports/reports.controller';
import { CreateChannelSchema, CreateRuleSchema, UpdateChannelSchema, UpdateRuleSchema } from '../alerting/alerting.controller';
import { AGENT_BOOT_HEADER, AGENT_CLOCK_HEADER, AgentHostReportSchema, AgentPollQuerySchema, AgentResultSchema, AgentScanProgressSchema, AgentScanStartedSchema, EnrolRequestSchema, ReenrolRequestSchema } from '@portolan/contracts';
import { WorkersQuerySchema } from '../workers/workers.controller';
import { CancelJobSchema, ListJobsQuerySchema } from '../jobs/jobs.service';
import { AgentsQuerySchema } from '../agents/agents.controller';
import { CreateEnrollmentTokenSchema } from '../enrollment/enrollment-tokens.service';
import { CreateOperatorTokenSchema } from '../operators/operator-tokens.service';
import { CreateTrackerSchema, UpdateTrackerSchema } from '../trackers/trackers.service';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (body: object) => ({ content: { 'application/json': { schema: body } } });
const error = { description: 'invalid input; the message names the problem', ...json(ref('Error')) };
const idParam = (what: string) => ({ name: 'id', in: 'path', required: true, description: `${what} id`, schema: { type: 'string', format: 'uuid' } });
const listOf = (what: string) => ({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', description: what } }, nextCursor: { type: ['string', 'null'] } } });
/** The agent process's boot on each of its calls: a duplicated identity's results are taken from the process that keeps it. */
const AGENT_BOOT = {
  name: AGENT_BOOT_HEADER,
  in: 'header',
  required: false,
  description: "the calling process's boot (its polls' `boot`): while two processes share one identity, only the one that keeps it has its results and scan reports taken",
  schema: { type: 'string', format: 'uuid' },
};
/** The agent's wall clock on each of its calls, which puts the times it reports on the hub's clock. */
const AGENT_CLOCK = { name: AGENT_CLOCK_HEADER, in: 'header', required: false, description: "the agent's clock when it sent the call, ms since 1970", schema: { type: 'string', pattern: '^[0-9]{1,16}$' } };
const queryParams = (s: z.ZodObject) =>
  Object.entries(s.shape).map(([name, field]) => ({ name, in: 'query', required: false, schema: schema(field as z.ZodType) }));

const create = (what: string, body: string) => ({
  post: {
    summary: `Create a ${what}`,
    requestBody: { required: true, ...json(ref(body)) },
    responses: { 201: { description: `the created ${what} with its id`, ...json({ type: 'object' }) }, 400: error },
  },
  get: { summary: `List ${what}s, newest first`, parameters: queryParams(z.object({ limit: z.number(), cursor: z.string() })), responses: { 200: json(listOf(what)) } },
});

/** Paths anyone may call; the agent API's own (see `securedPaths`); every other path needs an operator token. */
const PUBLIC_PATHS = new Set(['/api/health', '/api/docs', '/api/agent/enrol']);
/** Paths only an admin token may call, reads included. */
const ADMIN_PATHS = new Set(['/api/operator-tokens', '/api/operator-tokens/{id}/revoke']);

/** Each operation with who may call it: none, an agent's credentials, or an operator token (401 without, 403 for a viewer writing). */
function securedPaths(paths: Record<string, Record<string, Record<string, unknown>>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(paths).map(([path, operations]) => [
      path,
      Object.fromEntries(
        Object.entries(operations).map(([method, operation]) => {
          if (PUBLIC_PATHS.has(path)) return [method, { ...operation, security: [] }];
          if (path.startsWith('/api/agent/')) return [method, { ...operation, security: [{ agentCredentials: [] }] }];
          const responses = { ...(operation['responses'] as Record<string, unknown>), 401: error, ...(method === 'get' && !ADMIN_PATHS.has(path) ? {} : { 403: error }) };
          return [method, { ...operation, responses }];
        }),
      ),
    ]),
  );
}

/** The OpenAPI 3.1 document of the REST API, generated from the same schemas that validate it. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Portolan hub API', version, description: 'Network port change tracking: devices, trackers, scan jobs, baselines and change events.' },
    servers: [{ url: '/' }],
    security: [{ operatorToken: [] }],
    paths: securedPaths({
      '/api/sites': create('site', 'CreateSite'),
      '/api/credentials': create('credential', 'CreateCredential'),
      '/api/credentials/{id}': {
        get: { summary: 'A credential: which secrets it holds, never the secrets', parameters: [idParam('credential')], responses: { 200: json({ type: 'object' }), 404: error } },
        patch: { summary: 'Change a credential (secrets are write-only)', parameters: [idParam('credential')], requestBody: { required: true, ...json(ref('UpdateCredential')) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
        delete: { summary: 'Delete a credential no device uses', parameters: [idParam('credential')], responses: { 204: { description: 'deleted' }, 404: error, 409: error } },
      },
      '/api/credentials/reseal': { post: { summary: 'Re-encrypt every credential with the active master key', responses: { 200: json({ type: 'object' }) } } },
      '/api/devices': create('device', 'CreateDevice'),
      '/api/devices/{id}': { get: { summary: 'A device', parameters: [idParam('device')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/devices/{id}/ports': {
        get: { summary: 'The current port baseline of a device', parameters: [idParam('device'), ...queryParams(z.object({ limit: z.number(), cursor: z.string() }))], responses: { 200: json(listOf('port')), 404: error } },
      },
      '/api/devices/{id}/items': {
        get: { summary: 'The current baseline of every item type of a device (ports, configuration lines, firewall rules, registry values)', parameters: [idParam('device'), ...queryParams(z.object({ type: z.string(), limit: z.number(), cursor: z.string() }))], responses: { 200: json(listOf('item')), 404: error } },
      },
      '/api/devices/{id}/host-key': { get: { summary: 'The pinned SSH host key of a device and a changed one waiting', parameters: [idParam('device')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/devices/{id}/host-key/accept': {
        post: { summary: 'Accept the changed SSH host key (optionally only the given fingerprint)', parameters: [idParam('device')], requestBody: { required: false, ...json({ type: 'object', properties: { fingerprint: { type: 'string' } } }) }, responses: { 200: json({ type: 'object' }), 404: error, 409: error } },
      },
      '/api/trackers': create('tracker', 'CreateTracker'),
      '/api/trackers/{id}': {
        get: { summary: 'A tracker', parameters: [idParam('tracker')], responses: { 200: json({ type: 'object' }), 404: error } },
        patch: { summary: 'Edit a tracker: port spec (baselined, not reported), schedule, noise control, scan pace; disabling one run by an agent fails the runs asked of it that the agent has not started', parameters: [idParam('tracker')], requestBody: { required: true, ...json(schema(UpdateTrackerSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
      },
      '/api/devices/{id}/baseline': { get: { summary: 'The baseline of a device: hosts with coverage, items, changes waiting for confirmation', parameters: [idParam('device')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/devices/{id}/baseline/history': { get: { summary: 'Scan changes and operator changes of the baseline, newest first', parameters: [idParam('device'), ...queryParams(HistoryQuerySchema)], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/devices/{id}/baseline/promote': { post: { summary: 'Accept a change waiting for confirmation into the baseline now', parameters: [idParam('device')], requestBody: { required: true, ...json(schema(PromoteSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } } },
      '/api/devices/{id}/baseline/expected-ports': { post: { summary: 'Add an expected open port to the baseline', parameters: [idParam('device')], requestBody: { required: true, ...json(schema(ExpectPortSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 409: error } } },
      '/api/devices/{id}/baseline/remove': { post: { summary: 'Take an item out of the baseline', parameters: [idParam('device')], requestBody: { required: true, ...json(schema(RemoveItemSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } } },
      '/api/events/{id}': { get: { summary: 'One event, with the planned change that covers it (where alerts link)', parameters: [idParam('event')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/alert-channels': create('alert channel', 'CreateAlertChannel'),
      '/api/alert-channels/{id}': {
        get: { summary: 'One alert channel (which secrets are stored, never what), with its status', parameters: [idParam('alert channel')], responses: { 200: json({ type: 'object' }), 404: error } },
        patch: { summary: 'Rename, replace the settings, or replace the secrets named', parameters: [idParam('alert channel')], requestBody: { required: true, ...json(schema(UpdateChannelSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error, 409: error } },
        delete: { summary: 'Delete a channel no rule sends to', parameters: [idParam('alert channel')], responses: { 204: { description: 'deleted' }, 404: error, 409: error } },
      },
      '/api/alert-channels/{id}/retry-dead': { post: { summary: "Send the channel's dead deliveries again", parameters: [idParam('alert channel')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/alert-channels/{id}/test': { post: { summary: 'Send a test alert through the channel and say how it went', parameters: [idParam('alert channel')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/alert-rules': create('alert rule', 'CreateAlertRule'),
      '/api/alert-rules/{id}': {
        get: { summary: 'One alert rule', parameters: [idParam('alert rule')], responses: { 200: json({ type: 'object' }), 404: error } },
        patch: { summary: 'Change what the body names; the whole rule is checked again', parameters: [idParam('alert rule')], requestBody: { required: true, ...json(schema(UpdateRuleSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
        delete: { summary: 'Delete a rule with its deliveries (the audit log keeps it)', parameters: [idParam('alert rule')], responses: { 204: { description: 'deleted' }, 404: error } },
      },
      '/api/alert-deliveries': { get: { summary: 'Deliveries with their status, attempts, last error and latency', parameters: queryParams(z.object({ status: z.string(), channelId: z.string(), limit: z.number() })), responses: { 200: json({ type: 'object' }) } } },
      '/api/alert-deliveries/{id}/retry': { post: { summary: 'Send a dead delivery again', parameters: [idParam('delivery')], responses: { 200: json({ type: 'object' }), 409: error } } },
      '/api/reports/planned-vs-unplanned': { get: { summary: 'Planned and unplanned changes per device group over a period', parameters: queryParams(PlannedSummaryQuerySchema), responses: { 200: json({ type: 'object' }), 400: error } } },
      '/api/reports/exposure': { get: { summary: 'Open ports now, per device and per port across the estate', parameters: queryParams(ExposureQuerySchema), responses: { 200: json({ type: 'object' }), 400: error } } },
      '/api/reports/open-at': { get: { summary: 'The open ports of a device at a past time, from its baseline and the changes since', parameters: queryParams(OpenAtQuerySchema), responses: { 200: json({ type: 'object' }), 400: error } } },
      '/api/trackers/{id}/run': {
        post: { summary: 'Run a tracker now (409 for a tracker run by an agent that is revoked, or a disabled one: an agent runs only its enabled trackers; 400 for a scan its agent cannot be given: an address that does not resolve or lies outside the scope)', parameters: [idParam('tracker')], responses: { 202: json({ type: 'object', properties: { jobId: { type: 'string', format: 'uuid' } } }), 400: error, 404: error, 409: error } },
      },
      '/api/workers': {
        get: { summary: 'Scanner workers and collectors as their presence shows them (online, offline, stopped; restarts without a word, and a second process under one name), by site, kind and status', parameters: queryParams(WorkersQuerySchema), responses: { 200: json({ type: 'object' }), 400: error } },
      },
      '/api/jobs': {
        get: { summary: 'Scan jobs, newest first, filtered (status=open for those under way or not started), without their chunks', parameters: queryParams(ListJobsQuerySchema), responses: { 200: json(listOf('job')), 400: error } },
      },
      '/api/jobs/{id}': { get: { summary: 'Status and progress of a scan job', parameters: [idParam('job')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/jobs/{id}/cancel': {
        post: {
          summary: "Stop a scanner or collector job under way or not started: its chunks not done fail as cancelled (nmap stopped), the job fails (partial with what was done); an agent's run only before it is handed over (409 after, and for a finished job)",
          parameters: [idParam('job')],
          requestBody: { required: false, ...json(schema(CancelJobSchema)) },
          responses: { 200: json({ type: 'object' }), 400: error, 404: error, 409: error },
        },
      },
      '/api/events': { get: { summary: 'Change and communications events, newest first, filtered', parameters: queryParams(ListEventsQuerySchema), responses: { 200: json(listOf('event')), 400: error } } },
      '/api/events/counts': { get: { summary: 'Event counts (and planned counts) by day and kind for a filter', parameters: queryParams(EventCountsQuerySchema), responses: { 200: json({ type: 'object' }), 400: error } } },
      '/api/events/export': {
        get: { summary: 'Every event of a filter, oldest first, streamed as CSV or JSON', parameters: queryParams(ExportEventsQuerySchema), responses: { 200: { description: 'text/csv or application/json' }, 400: error } },
      },
      '/api/groups': create('device group', 'CreateGroup'),
      '/api/groups/{id}': { get: { summary: 'A device group and its devices', parameters: [idParam('group')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/groups/{id}/members': {
        post: { summary: 'Add devices to a group', parameters: [idParam('group')], requestBody: { required: true, ...json({ type: 'object', properties: { deviceIds: { type: 'array', items: { type: 'string', format: 'uuid' } } } }) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
      },
      '/api/planned-changes': {
        post: { summary: 'Create a planned change (a draft)', requestBody: { required: true, ...json(ref('CreatePlannedChange')) }, responses: { 201: json({ type: 'object' }), 400: error } },
        get: { summary: 'Planned changes, newest first', parameters: queryParams(ListPlannedChangesSchema), responses: { 200: json(listOf('planned change')) } },
      },
      '/api/planned-changes/from-events': { post: { summary: 'A draft planned change that plans exactly the selected events', requestBody: { required: true, ...json(schema(PlanFromEventsSchema)) }, responses: { 201: json({ type: 'object' }), 400: error } } },
      '/api/planned-changes/{id}': {
        get: { summary: 'A planned change with its proposals, planned event count and history', parameters: [idParam('planned change')], responses: { 200: json({ type: 'object' }), 404: error } },
        patch: { summary: 'Edit; widening an approved planned change sends it back to draft', parameters: [idParam('planned change')], requestBody: { required: true, ...json(schema(UpdatePlannedChangeSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
      },
      '/api/planned-changes/{id}/approve': {
        post: { summary: 'Approve (recording the approver) and re-evaluate past events', parameters: [idParam('planned change')], requestBody: { required: true, ...json(schema(ApprovePlannedChangeSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error, 409: error } },
      },
      '/api/planned-changes/{id}/reevaluate': {
        post: { summary: 'Classify again the change events since a time (default 7 days) in its scope', parameters: [idParam('planned change')], requestBody: { required: true, ...json(schema(ReevaluateSchema)) }, responses: { 200: json({ type: 'object' }), 404: error } },
      },
      '/api/planned-changes/{id}/events': {
        post: { summary: 'Extend a planned change to plan the selected events too', parameters: [idParam('planned change')], requestBody: { required: true, ...json(schema(ExtendWithEventsSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
      },
      '/api/planned-changes/{id}/proposals/confirm': {
        post: { summary: "Make recording mode's proposals rules", parameters: [idParam('planned change')], requestBody: { required: true, ...json(schema(ConfirmProposalsSchema)) }, responses: { 200: json({ type: 'object' }), 400: error, 404: error } },
      },
      '/api/enrollment-tokens': create('enrolment token', 'CreateEnrollmentToken'),
      '/api/enrollment-tokens/{id}/revoke': { post: { summary: 'Revoke an enrolment token', parameters: [idParam('token')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/agents': {
        get: { summary: 'Agents: status, version, OS, site, last seen, spool depth, configuration applied; filtered by status, site, version, name, scanner role, spool, silence, configuration pending, clock skew and duplicated identity', parameters: queryParams(AgentsQuerySchema), responses: { 200: json(listOf('agent')), 400: error } },
      },
      '/api/agents/-/summary': { get: { summary: 'The fleet at a glance: agents by status, version and site, and what their spools hold', responses: { 200: json({ type: 'object' }) } } },
      '/api/agents/{id}': { get: { summary: 'An agent', parameters: [idParam('agent')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/agents/{id}/boots': {
        get: { summary: "An agent's recent boots, newest first: the host each reported, when it was first seen and when its polls last took over (two processes with one identity show as two)", parameters: [idParam('agent')], responses: { 200: json({ type: 'object' }), 404: error } },
      },
      '/api/agents/{id}/revoke': { post: { summary: 'Revoke an agent: its secret stops working', parameters: [idParam('agent')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/hub-certificates': { get: { summary: "The gateways' certificates, served or staged next, and whether pinning agents are told to trust each", responses: { 200: json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', description: 'hub certificate' } } } }) } } },
      '/api/hub-certificates/{id}/retire': {
        post: {
          summary: 'Stop announcing a certificate to pinning agents (a replica gone, the old certificate after a rotation); audited',
          parameters: [idParam('hub certificate')],
          requestBody: { required: false, ...json({ type: 'object', properties: { retiredBy: { type: 'string' }, force: { type: 'boolean', description: 'retire it although a gateway registered it as served within the last two hours' } } }) },
          responses: { 200: json({ type: 'object' }), 400: error, 404: error, 409: error },
        },
      },
      '/api/operator-tokens': {
        post: { summary: 'Admin: make an operator token (admin, or viewer: reads only); the token is answered this once', requestBody: { required: true, ...json(ref('CreateOperatorToken')) }, responses: { 201: json({ type: 'object' }), 400: error } },
        get: { summary: 'Admin: operator tokens, newest first, never the tokens themselves', parameters: queryParams(z.object({ limit: z.number(), cursor: z.string() })), responses: { 200: json(listOf('operator token')) } },
      },
      '/api/operator-tokens/current': { get: { summary: 'The calling token: id, name and role', responses: { 200: json({ type: 'object' }) } } },
      '/api/operator-tokens/{id}/revoke': { post: { summary: 'Admin: revoke an operator token (never the last admin token that works); audited', parameters: [idParam('operator token')], responses: { 200: json({ type: 'object' }), 404: error, 409: error } } },
      '/api/agent/enrol': {
        post: { summary: 'Agent: exchange an enrolment token for an agent id and secret', requestBody: { required: true, ...json(ref('EnrolRequest')) }, responses: { 201: json({ type: 'object' }), 400: error, 401: error, 429: error } },
      },
      '/api/agent/config': { get: { summary: 'Agent: its trackers and schedules (Authorization: Bearer <agentId>.<secret>)', responses: { 200: json({ type: 'object' }), 401: error } } },
      '/api/agent/jobs': {
        get: {
          summary: 'Agent: heartbeat and long-poll for runs asked of it (a run is handed to the process polling, its `boot`; one a process picked up and has not started is handed again to another process of the agent that polls: its next one after a restart, or while two processes share the identity, each in turn; and to the same process again every two minutes until it starts, in case an answer was lost, the agent running each run once); answered at once with `clone: true` when another host keeps the identity this process polls with (it is to re-enrol)',
          parameters: [...queryParams(AgentPollQuerySchema), AGENT_CLOCK], responses: { 200: json({ type: 'object' }), 400: error, 401: error, 429: error } },
      },
      '/api/agent/scans': {
        post: { summary: 'Agent: a run started (by the process its boot header names: one replaced before sending the result fails the run)', parameters: [AGENT_CLOCK, AGENT_BOOT], requestBody: { required: true, ...json(ref('AgentScanStarted')) }, responses: { 202: json({ type: 'object' }), 400: error, 401: error, 404: error, 503: error } },
      },
      '/api/agent/progress': {
        post: {
          summary: 'Agent: how far a remote or network scan it runs has got (every 15 s while it runs); kept on the job, never moving back, while the run is running without its result; a run picked up that the hub has not heard start (its scan-start report lost) is started by it; `applied: false` once the run has its result or has ended',
          parameters: [AGENT_BOOT],
          requestBody: { required: true, ...json(ref('AgentScanProgress')) },
          responses: { 202: json({ type: 'object' }), 400: error, 401: error, 404: error, 429: error, 503: error },
        },
      },
      '/api/agent/results': {
        post: {
          summary: 'Agent: a finished or failed run; gzip JSON with an Idempotency-Key header. 202 accepted, 200 for a replay; 503 with Retry-After while the hub is overloaded or two processes poll with this identity',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,128}$' } }, AGENT_CLOCK, AGENT_BOOT],
          requestBody: { required: true, ...json(ref('AgentResult')) },
          responses: { 200: json({ type: 'object' }), 202: json({ type: 'object' }), 400: error, 401: error, 404: error, 409: error, 413: error, 429: error, 503: error },
        },
      },
      '/api/agent/host': {
        post: {
          summary: "Agent: the host its process runs on, once a boot (a renamed host or an upgraded system is recorded, `agent-host-changed`)",
          requestBody: { required: true, ...json(ref('AgentHostReport')) },
          responses: { 204: { description: 'recorded' }, 400: error, 401: error, 429: error },
        },
      },
      '/api/agent/reenrol': {
        post: {
          summary: "Agent: an identity of its own for a process answered `clone` (a cloned machine), enrolled as its host with a use of the shared identity's enrolment token; asked again by the same boot, the same agent with a new secret",
          requestBody: { required: true, ...json(ref('ReenrolRequest')) },
          responses: { 201: json({ type: 'object' }), 400: error, 401: error, 409: error, 429: error },
        },
      },
      '/api/agent/rotate-secret': { post: { summary: 'Agent: a new secret; the old one stops working', responses: { 200: json({ type: 'object' }), 401: error } } },
      '/api/health': { get: { summary: 'Readiness of the database and the bus', responses: { 200: json({ type: 'object' }), 503: json({ type: 'object' }) } } },
      '/api/docs': { get: { summary: 'This document', responses: { 200: json({ type: 'object' }) } } },
    }),
    components: {
      securitySchemes: {
        operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator token (`ptop_...`, or the PORTOLAN_ADMIN_TOKEN): admin for everything, viewer for GETs' },
        agentCredentials: { type: 'http', scheme: 'bearer', description: "An agent's `<agentId>.<secret>`, from enrolment" },
      },
      schemas: {
        CreateOperatorToken: schema(CreateOperatorTokenSchema),
        CreateSite: schema(CreateSiteSchema),
        CreateCredential: schema(CreateCredentialSchema),
        UpdateCredential: schema(UpdateCredentialSchema),
        CreateDevice: schema(CreateDeviceSchema),
        CreateTracker: schema(CreateTrackerSchema),
        CreateGroup: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        CreatePlannedChange: schema(CreatePlannedChangeSchema),
        CreateAlertChannel: schema(CreateChannelSchema),
        CreateAlertRule: schema(CreateRuleSchema),
        CreateEnrollmentToken: schema(CreateEnrollmentTokenSchema),
        EnrolRequest: schema(EnrolRequestSchema),
        ReenrolRequest: schema(ReenrolRequestSchema),
        AgentScanStarted: schema(AgentScanStartedSchema),
        AgentScanProgress: schema(AgentScanProgressSchema),
        AgentHostReport: schema(AgentHostReportSchema),
        AgentResult: schema(AgentResultSchema),
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' }, errorId: { type: 'string' } }, required: ['code', 'message'] } },
        },
      },
    },
  };
}
