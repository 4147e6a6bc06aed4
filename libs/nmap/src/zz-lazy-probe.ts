export function probe(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const c = require('@portolan/contracts') as typeof import('@portolan/contracts');
  return typeof c.DomainError;
}
