export { planBaselineChanges } from './baseline.plan';
export type { BaselinePlanInput, HostBaseline, HostChange } from './baseline.plan';
export { ComparerModule } from './comparer.module';
export { ResultApplier } from './result.applier';
