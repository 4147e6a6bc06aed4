export const AGENT_RATE_LIMITER = Symbol('portolan.agent-rate-limiter');
export const ENROL_RATE_LIMITER = Symbol('portolan.enrol-rate-limiter');
export const GATEWAY_CONFIG = Symbol('portolan.gateway-config');
