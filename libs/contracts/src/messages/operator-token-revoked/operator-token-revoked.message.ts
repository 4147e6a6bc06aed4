import { z } from 'zod';
import { UuidSchema } from '../../common/primitives.schema';
import { defineMessage } from '../message-definition';

/**
 * An operator token was revoked: every gateway replica forgets it at once. Ephemeral: a replica
 * that misses it trusts its cache only until the entry expires (5 s).
 */
export const OperatorTokenRevokedSchema = z.object({ tokenId: UuidSchema });
export type OperatorTokenRevoked = z.infer<typeof OperatorTokenRevokedSchema>;

export const OperatorTokenRevokedMessage = defineMessage({
  subject: 'portolan.operator.token.revoked.v1',
  transport: 'ephemeral',
  routed: false,
  schema: OperatorTokenRevokedSchema,
});
