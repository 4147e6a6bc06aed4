import { z } from 'zod';
import { ActorSchema } from '../http/actor';

const Justification = z.string().trim().min(1, 'justification is required for a change to a baseline').max(2_000);
const ItemRef = {
  trackerId: z.uuid(),
  host: z.string().trim().min(1).max(255),
  itemType: z.string().trim().min(1).max(50),
  itemKey: z.string().min(1).max(2_000),
};

export const PromoteSchema = z.object({ ...ItemRef, actor: ActorSchema, justification: Justification }).strict();
export type Promote = z.infer<typeof PromoteSchema>;
export const RemoveItemSchema = PromoteSchema;
export type RemoveItem = Promote;
export const ExpectPortSchema = z
  .object({
    trackerId: z.uuid(),
    host: z.string().trim().min(1).max(255),
    protocol: z.enum(['tcp', 'udp']),
    port: z.number().int().min(1).max(65_535),
    service: z.string().max(100).optional(),
    actor: ActorSchema,
    justification: Justification,
  })
  .strict();
export type ExpectPort = z.infer<typeof ExpectPortSchema>;
export const HistoryQuerySchema = z.object({ since: z.iso.datetime({ offset: true }).optional(), limit: z.coerce.number().int().min(1).max(1_000).default(200) });

