import { z } from 'zod';
import { defineMessage } from '../message-definition';

/** Request/reply liveness probe of a service (routing token: the service name). */
export const PingSchema = z.object({ from: z.string().max(128) });
export const PongSchema = z.object({ service: z.string(), version: z.string(), uptimeSeconds: z.number() });
export type Ping = z.infer<typeof PingSchema>;
export type Pong = z.infer<typeof PongSchema>;

export const PingMessage = defineMessage({
  subject: 'portolan.rpc.service.ping.v1',
  transport: 'rpc',
  routed: true,
  schema: PingSchema,
  replySchema: PongSchema,
});
