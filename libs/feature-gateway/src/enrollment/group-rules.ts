import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { GroupRuleRecord, NEW_DEVICES_GROUP } from '@portolan/persistence';

export const GroupRuleSchema = z
  .object({
    field: z.enum(['hostname', 'os']),
    pattern: z.string().min(1).max(200),
    group: z.string().trim().min(1).max(200),
  })
  .strict();

/** Checks that every rule's pattern is a valid regular expression; the error names the rule. */
export function validateGroupRules(rules: readonly GroupRuleRecord[]): void {
  rules.forEach((rule, index) => {
    try {
      new RegExp(rule.pattern, 'i');
    } catch (error) {
      throw new DomainError('invalid_payload', `groupRules[${index}].pattern "${rule.pattern}" is not a valid regular expression: ${(error as Error).message}`, {
        field: `groupRules.${index}.pattern`,
      });
    }
  });
}

/**
 * The groups a newly enrolled device joins: every rule whose pattern matches the host name or
 * the OS text (case-insensitive); "New Devices" when none does.
 */
export function groupsFor(rules: readonly GroupRuleRecord[], facts: { hostname: string; os: string }): string[] {
  const groups = rules.filter((rule) => new RegExp(rule.pattern, 'i').test(rule.field === 'hostname' ? facts.hostname : facts.os)).map((rule) => rule.group);
  return groups.length ? [...new Set(groups)] : [NEW_DEVICES_GROUP];
}
