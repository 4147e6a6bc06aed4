import { z } from 'zod';

/** Who did it (an operator's name or a system's): named in the audit log. */
export const ActorSchema = z.string().trim().min(1).max(200);

/** `?deletedBy=` of a DELETE: who deleted it, for the audit log (the operator token's name when not given). */
export const DeletedByQuerySchema = z.object({ deletedBy: ActorSchema.optional() });
export type DeletedByQuery = z.infer<typeof DeletedByQuerySchema>;
