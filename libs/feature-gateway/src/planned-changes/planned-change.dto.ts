import { z } from 'zod';
import { ActorSchema } from '../http/actor';
import { CHANGE_KINDS, MAX_PATTERN_LENGTH } from '@portolan/planning';

const Time = z.iso.datetime({ offset: true });

export const PlannedRuleSchema = z
  .object({
    trackerId: z.uuid().nullable().optional(),
    itemType: z.string().trim().min(1).max(50).nullable().optional(),
    kinds: z.array(z.enum(CHANGE_KINDS)).max(3).nullable().optional(),
    /** `tcp/443`, `tcp/8000-8100`, `*` `/53`, `tcp/22@127.0.0.*`; for other item types a key glob. */
    keyPattern: z.string().max(MAX_PATTERN_LENGTH).nullable().optional(),
  })
  .strict();
export type PlannedRule = z.infer<typeof PlannedRuleSchema>;

const ScopeSchema = z
  .object({
    deviceIds: z.array(z.uuid()).max(10_000).default([]),
    groupIds: z.array(z.uuid()).max(1_000).default([]),
  })
  .strict();

export const CreatePlannedChangeSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(4_000).optional(),
    mode: z.enum(['rules', 'recording']).default('rules'),
    start: Time,
    /** Omitted or null: open-ended. */
    end: Time.nullable().optional(),
    scope: ScopeSchema,
    rules: z.array(PlannedRuleSchema).max(500).default([]),
    createdBy: ActorSchema,
  })
  .strict();
export type CreatePlannedChange = z.infer<typeof CreatePlannedChangeSchema>;

/** An edit; a change to window, scope, mode or rules sends an approved planned change back to draft. */
export const UpdatePlannedChangeSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(4_000).nullable().optional(),
    mode: z.enum(['rules', 'recording']).optional(),
    start: Time.optional(),
    end: Time.nullable().optional(),
    scope: ScopeSchema.partial().optional(),
    rules: z.array(PlannedRuleSchema).max(500).optional(),
    editedBy: ActorSchema,
    justification: z.string().max(2_000).optional(),
  })
  .strict();
export type UpdatePlannedChange = z.infer<typeof UpdatePlannedChangeSchema>;

export const ApprovePlannedChangeSchema = z
  .object({
    approvedBy: ActorSchema,
    /** Re-evaluate change events recorded since then (default: the last 7 days); false: none. */
    reevaluateSince: z.union([Time, z.literal(false)]).optional(),
  })
  .strict();
export type ApprovePlannedChange = z.infer<typeof ApprovePlannedChangeSchema>;

export const ReevaluateSchema = z.object({ since: Time.optional(), requestedBy: ActorSchema }).strict();
export type Reevaluate = z.infer<typeof ReevaluateSchema>;

const EventIds = z.array(z.uuid()).min(1).max(1_000);

export const PlanFromEventsSchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(4_000).optional(),
    eventIds: EventIds,
    /** Default: from the first event's observation to a minute after the last. */
    start: Time.optional(),
    end: Time.nullable().optional(),
    createdBy: ActorSchema,
  })
  .strict();
export type PlanFromEvents = z.infer<typeof PlanFromEventsSchema>;

export const ExtendWithEventsSchema = z.object({ eventIds: EventIds, editedBy: ActorSchema, justification: z.string().max(2_000).optional() }).strict();
export type ExtendWithEvents = z.infer<typeof ExtendWithEventsSchema>;

export const ConfirmProposalsSchema = z
  .object({
    /** The proposals to make rules (`ruleKey` of each); omitted: all of them. */
    ruleKeys: z.array(z.string().max(2_000)).max(1_000).optional(),
    confirmedBy: ActorSchema,
    /** Switch to rules mode: from now on only the rules plan changes. */
    stopRecording: z.boolean().default(false),
  })
  .strict();
export type ConfirmProposals = z.infer<typeof ConfirmProposalsSchema>;

export const ListPlannedChangesSchema = z.object({
  status: z.enum(['draft', 'approved']).optional(),
  /** Only those whose window holds this time. */
  activeAt: Time.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});
export type ListPlannedChanges = z.infer<typeof ListPlannedChangesSchema>;
