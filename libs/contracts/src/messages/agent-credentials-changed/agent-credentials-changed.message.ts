import { z } from 'zod';
import { UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/**
 * An agent was revoked, its secret rotated, or its identity found in two processes or again in
 * one (`agent-duplicated`, `agent-duplicate-resolved`): every gateway replica forgets what it
 * cached about the agent. Ephemeral: a replica that misses it trusts its cache only
 * until the cache entry expires (a minute at most).
 */
export const AgentCredentialsChangedSchema = z.object({ agentId: UuidSchema, reason: z.enum(['revoked', 'rotated', 'duplicated', 'duplicate-resolved']) });
export type AgentCredentialsChanged = z.infer<typeof AgentCredentialsChangedSchema>;

export const AgentCredentialsChangedMessage = defineMessage({
  subject: 'portolan.agent.credentials.changed.v1',
  transport: 'ephemeral',
  routed: false,
  schema: AgentCredentialsChangedSchema,
});
