export { globMatches, KeyPatternError, matchesKey, MAX_PATTERN_LENGTH, parseKeyPattern } from './key-pattern';
export type { KeyPattern } from './key-pattern';
export { CHANGE_KINDS, classifyChange, compilePlannedChange, exactRule, inWindowAndScope, PlannedChangeError, uniqueRules } from './planned-change';
export type {
  ChangeKind,
  ClassifiableChange,
  CompiledPlannedChange,
  PlannedChangeDefinition,
  PlannedChangeMode,
  PlannedChangeStatus,
  PlannedMatch,
  PlannedRuleDefinition,
} from './planned-change';
