import { z } from 'zod';
import { UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/**
 * Wakes the gateway replica that holds an agent's long-poll: there is work (a run now) or new
 * configuration for that agent. Ephemeral: a lost wake-up costs a few seconds at most, since
 * the gateway also looks for pending runs in the database every few seconds.
 */
export const AgentJobAvailableSchema = z.object({ agentId: UuidSchema, reason: z.enum(['job', 'config']) });
export type AgentJobAvailable = z.infer<typeof AgentJobAvailableSchema>;

export const AgentJobAvailableMessage = defineMessage({
  subject: 'portolan.agent.job.available.v1',
  transport: 'ephemeral',
  routed: false,
  schema: AgentJobAvailableSchema,
});
