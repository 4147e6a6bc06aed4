import { z } from 'zod';
import { CreateCredentialSchema, UpdateCredentialSchema } from '../credentials/credentials.service';
import { CreateDeviceSchema } from '../devices/devices.service';
import { ListEventsQuerySchema } from '../events/events.controller';
import { CreateSiteSchema } from '../sites/sites.controller';
import { AgentPollQuerySchema, AgentResultSchema, AgentScanStartedSchema, EnrolRequestSchema } from '@portolan/contracts';
import { CreateEnrollmentTokenSchema } from '../enrollment/enrollment-tokens.service';
import { CreateTrackerSchema } from '../trackers/trackers.service';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (body: object) => ({ content: { 'application/json': { schema: body } } });
const error = { description: 'invalid input; the message names the problem', ...json(ref('Error')) };
const idParam = (what: string) => ({ name: 'id', in: 'path', required: true, description: `${what} id`, schema: { type: 'string', format: 'uuid' } });
const listOf = (what: string) => ({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', description: what } }, nextCursor: { type: ['string', 'null'] } } });
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

/** The OpenAPI 3.1 document of the REST API, generated from the same schemas that validate it. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Portolan hub API', version, description: 'Network port change tracking: devices, trackers, scan jobs, baselines and change events.' },
    servers: [{ url: '/' }],
    paths: {
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
      '/api/trackers/{id}': { get: { summary: 'A tracker', parameters: [idParam('tracker')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/trackers/{id}/run': {
        post: { summary: 'Run a tracker now', parameters: [idParam('tracker')], responses: { 202: json({ type: 'object', properties: { jobId: { type: 'string', format: 'uuid' } } }), 404: error } },
      },
      '/api/jobs/{id}': { get: { summary: 'Status and progress of a scan job', parameters: [idParam('job')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/events': { get: { summary: 'Change and communications events, newest first', parameters: queryParams(ListEventsQuerySchema), responses: { 200: json(listOf('event')), 400: error } } },
      '/api/enrollment-tokens': create('enrolment token', 'CreateEnrollmentToken'),
      '/api/enrollment-tokens/{id}/revoke': { post: { summary: 'Revoke an enrolment token', parameters: [idParam('token')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/agents': { get: { summary: 'Agents: status, version, OS, site, last seen, spool depth', parameters: queryParams(z.object({ limit: z.number(), cursor: z.string(), status: z.string() })), responses: { 200: json(listOf('agent')) } } },
      '/api/agents/{id}': { get: { summary: 'An agent', parameters: [idParam('agent')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/agents/{id}/revoke': { post: { summary: 'Revoke an agent: its secret stops working', parameters: [idParam('agent')], responses: { 200: json({ type: 'object' }), 404: error } } },
      '/api/agent/enrol': {
        post: { summary: 'Agent: exchange an enrolment token for an agent id and secret', requestBody: { required: true, ...json(ref('EnrolRequest')) }, responses: { 201: json({ type: 'object' }), 400: error, 401: error, 429: error } },
      },
      '/api/agent/config': { get: { summary: 'Agent: its trackers and schedules (Authorization: Bearer <agentId>.<secret>)', responses: { 200: json({ type: 'object' }), 401: error } } },
      '/api/agent/jobs': { get: { summary: 'Agent: heartbeat and long-poll for runs asked of it', parameters: queryParams(AgentPollQuerySchema), responses: { 200: json({ type: 'object' }), 401: error, 429: error } } },
      '/api/agent/scans': { post: { summary: 'Agent: a run started', requestBody: { required: true, ...json(ref('AgentScanStarted')) }, responses: { 202: json({ type: 'object' }), 401: error, 404: error } } },
      '/api/agent/results': {
        post: {
          summary: 'Agent: a finished or failed run; gzip JSON with an Idempotency-Key header. 202 accepted, 200 for a replay',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{8,128}$' } }],
          requestBody: { required: true, ...json(ref('AgentResult')) },
          responses: { 200: json({ type: 'object' }), 202: json({ type: 'object' }), 400: error, 401: error, 404: error, 409: error, 413: error, 429: error },
        },
      },
      '/api/agent/rotate-secret': { post: { summary: 'Agent: a new secret; the old one stops working', responses: { 200: json({ type: 'object' }), 401: error } } },
      '/api/health': { get: { summary: 'Readiness of the database and the bus', responses: { 200: json({ type: 'object' }), 503: json({ type: 'object' }) } } },
      '/api/docs': { get: { summary: 'This document', responses: { 200: json({ type: 'object' }) } } },
    },
    components: {
      schemas: {
        CreateSite: schema(CreateSiteSchema),
        CreateCredential: schema(CreateCredentialSchema),
        UpdateCredential: schema(UpdateCredentialSchema),
        CreateDevice: schema(CreateDeviceSchema),
        CreateTracker: schema(CreateTrackerSchema),
        CreateEnrollmentToken: schema(CreateEnrollmentTokenSchema),
        EnrolRequest: schema(EnrolRequestSchema),
        AgentScanStarted: schema(AgentScanStartedSchema),
        AgentResult: schema(AgentResultSchema),
        Error: {
          type: 'object',
          properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' }, errorId: { type: 'string' } }, required: ['code', 'message'] } },
        },
      },
    },
  };
}
