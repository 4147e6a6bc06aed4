import { AgentFeatures } from '@portolan/contracts';

/**
 * The agent program's version, reported to the hub at enrolment and on every poll. It moves with
 * what the program does for the hub: 0.2.0 is the first to say its features (`AGENT_FEATURES`;
 * `GET /api/agents?lacksFeature=scan-pace` lists the agents to upgrade for a paced scan).
 */
export const AGENT_VERSION = '0.2.0';

/** What this agent program can do beyond what every agent does, said at enrolment and on every poll: the hub hands it only work it can do as asked. */
export const AGENT_FEATURES: readonly string[] = [AgentFeatures.scanPace];
