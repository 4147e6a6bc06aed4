/** The agent program's version, reported to the hub at enrolment and on every poll. */
export const AGENT_VERSION = '0.1.0';
