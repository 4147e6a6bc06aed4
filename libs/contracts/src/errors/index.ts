// A second, zod-free entry point (`@portolan/contracts/errors`). Pure libraries (targets, nmap,
// diff) need only DomainError; importing it from here keeps them from loading zod and every
// message schema, which costs about 0.13 s and 14 MB at start-up (bench/RESULTS.md).
export { DomainError, isDomainError } from './domain-error';
export type { DomainErrorCode } from './domain-error';
