import { AgentFeatures } from '@portolan/contracts';

/** The agent program's version, reported to the hub at enrolment and on every poll. */
export const AGENT_VERSION = '0.1.0';

/** What this agent program can do beyond what every agent does, said at enrolment and on every poll: the hub hands it only work it can do as asked. */
export const AGENT_FEATURES: readonly string[] = [AgentFeatures.scanPace];
