/**
 * Two returns of a displaced boot of one agent within this long mean two processes poll with its
 * identity (the gateway flags it, `agent-duplicated`); the scheduler's leader clears the flag once
 * none has returned for this long (`agent-duplicate-resolved`).
 */
export const AGENT_DUPLICATE_WINDOW_MS = 10 * 60_000;
