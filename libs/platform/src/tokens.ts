/** Injection tokens of the shared platform providers. */
export const DATA_SOURCE = Symbol('portolan.data-source');
export const BUS = Symbol('portolan.bus');
export const LOGGER = Symbol('portolan.logger');
export const PLATFORM_CONFIG = Symbol('portolan.platform-config');
export const SCOPE_GUARD = Symbol('portolan.scope-guard');
export const SERVICE_INFO = Symbol('portolan.service-info');
/** The master key ring (`SecretBox`) that seals stored credentials. */
export const SECRET_BOX = Symbol('portolan.secret-box');

export interface ServiceInfo {
  readonly name: string;
  readonly version: string;
  readonly startedAt: Date;
}
