export { DomainError, isDomainError } from './errors/domain-error';
export type { DomainErrorCode } from './errors/domain-error';
