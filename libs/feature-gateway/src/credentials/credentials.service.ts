import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { utils as sshUtils } from 'ssh2';
import { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { z } from 'zod';
import { DomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { CredentialEntity, DeviceEntity } from '@portolan/persistence';
import { CredentialSecrets, CredentialVault, DATA_SOURCE, LOGGER } from '@portolan/platform';

const name = z.string().trim().min(1).max(200);
const username = z.string().min(1).max(256);
const secret = (what: string) => z.string().min(1, `${what} must not be empty`).max(16_384);

/**
 * One schema per credential type. Secrets are write-only: they go in here and are sealed at
 * once; no answer ever carries them. `no-connection-required` takes a dummy username and
 * password (as network-range devices are often given) and keeps neither.
 */
export const CreateCredentialSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('no-connection-required'), name, username: z.string().max(256).optional(), password: z.string().max(256).optional() }).strict(),
    // Network devices read over SSH may need an enable secret for privileged mode.
    z.object({ type: z.literal('ssh-password'), name, username, password: secret('password'), enableSecret: secret('enableSecret').optional() }).strict(),
    z.object({ type: z.literal('ssh-key'), name, username, privateKey: secret('privateKey').max(65_536), passphrase: secret('passphrase').optional(), enableSecret: secret('enableSecret').optional() }).strict(),
    z.object({ type: z.literal('telnet'), name, username, password: secret('password'), enableSecret: secret('enableSecret').optional() }).strict(),
    z.object({ type: z.literal('smb'), name, domain: z.string().min(1).max(256).optional(), username, password: secret('password') }).strict(),
  ],
  { error: () => 'type must be one of no-connection-required, ssh-password, ssh-key, telnet, smb' },
);
export type CreateCredential = z.infer<typeof CreateCredentialSchema>;

/** A change of a credential: any of its username, domain and secrets (type and id stay). */
export const UpdateCredentialSchema = z
  .object({
    name: name.optional(),
    username: username.optional(),
    domain: z.string().min(1).max(256).optional(),
    password: secret('password').optional(),
    privateKey: secret('privateKey').max(65_536).optional(),
    passphrase: secret('passphrase').optional(),
    enableSecret: secret('enableSecret').optional(),
  })
  .strict()
  .refine((u) => Object.keys(u).length > 0, 'nothing to change');
export type UpdateCredential = z.infer<typeof UpdateCredentialSchema>;

/** Which fields each type may hold. */
const FIELDS: Record<CredentialEntity['type'], readonly (keyof CredentialSecrets | 'username' | 'domain')[]> = {
  'no-connection-required': [],
  'ssh-password': ['username', 'password', 'enableSecret'],
  'ssh-key': ['username', 'privateKey', 'passphrase', 'enableSecret'],
  telnet: ['username', 'password', 'enableSecret'],
  smb: ['username', 'domain', 'password'],
};

export interface CredentialView {
  id: string;
  name: string;
  type: string;
  username: string | null;
  domain: string | null;
  /** Which secrets are stored; the secrets themselves never leave the hub. */
  secrets: { password: boolean; privateKey: boolean; passphrase: boolean; enableSecret: boolean };
  /** Id of the master key that sealed the secrets (null: nothing sealed). */
  keyId: string | null;
  insecure: boolean;
  createdAt: Date;
  updatedAt: Date;
}

@Injectable()
export class CredentialsService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly vault: CredentialVault,
  ) {}

  view(c: CredentialEntity): CredentialView {
    const { keyId, ...secrets } = this.vault.describe(c);
    return { id: c.id, name: c.name, type: c.type, username: c.username, domain: c.domain, secrets, keyId, insecure: c.type === 'telnet', createdAt: c.createdAt, updatedAt: c.updatedAt };
  }

  async create(body: CreateCredential): Promise<CredentialView> {
    const repository = this.db.getRepository(CredentialEntity);
    if (await repository.existsBy({ name: body.name })) throw new DomainError('conflict', `a credential named "${body.name}" already exists`, { field: 'name' });
    if (body.type === 'ssh-key') checkPrivateKey(body.privateKey, body.passphrase);
    const id = randomUUID();
    const kept = body.type === 'no-connection-required' ? {} : body;
    await repository.insert({
      id,
      name: body.name,
      type: body.type,
      username: 'username' in kept ? (kept.username ?? null) : null,
      domain: 'domain' in kept ? (kept.domain ?? null) : null,
      ...this.vault.seal(id, pickSecrets(kept)),
    } as QueryDeepPartialEntity<CredentialEntity>);
    this.logger.info({ credentialId: id, type: body.type }, 'credential created');
    return this.view(await repository.findOneByOrFail({ id }));
  }

  async get(id: string): Promise<CredentialEntity> {
    const row = await this.db.getRepository(CredentialEntity).findOneBy({ id });
    if (!row) throw new DomainError('not_found', `credential ${id} does not exist`);
    return row;
  }

  async update(id: string, body: UpdateCredential): Promise<CredentialView> {
    return this.db.transaction(async (manager) => {
      const row = await manager.findOne(CredentialEntity, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw new DomainError('not_found', `credential ${id} does not exist`);
      const allowed = FIELDS[row.type];
      const wrong = Object.keys(body).filter((k) => k !== 'name' && !allowed.includes(k as (typeof allowed)[number]));
      if (wrong.length) throw new DomainError('invalid_payload', `a ${row.type} credential has no ${wrong.join(', ')}`, { field: wrong[0] });
      if (body.name && body.name !== row.name && (await manager.existsBy(CredentialEntity, { name: body.name }))) {
        throw new DomainError('conflict', `a credential named "${body.name}" already exists`, { field: 'name' });
      }
      const current = (await this.vault.open(id, manager)) as CredentialSecrets;
      const secrets = { ...pickSecrets(current), ...pickSecrets(body) };
      if (row.type === 'ssh-key' && (body.privateKey || body.passphrase)) checkPrivateKey(secrets.privateKey ?? '', secrets.passphrase);
      await manager.update(CredentialEntity, id, {
        name: body.name ?? row.name,
        username: body.username ?? row.username,
        domain: body.domain ?? row.domain,
        ...this.vault.seal(id, secrets),
      } as QueryDeepPartialEntity<CredentialEntity>);
      this.logger.info({ credentialId: id, changed: Object.keys(body) }, 'credential changed');
      return this.view(await manager.findOneByOrFail(CredentialEntity, { id }));
    });
  }

  async remove(id: string): Promise<void> {
    await this.get(id);
    const users = await this.db.getRepository(DeviceEntity).countBy({ credentialId: id });
    if (users) throw new DomainError('conflict', `credential ${id} is used by ${users} device(s); give them another credential first`, { field: 'id' });
    await this.db.getRepository(CredentialEntity).delete({ id });
    this.logger.info({ credentialId: id }, 'credential deleted');
  }
}

/** The secrets the source holds (absent ones left out, so spreading it never clears a secret). */
function pickSecrets(source: Partial<CredentialSecrets>): CredentialSecrets {
  const { password, privateKey, passphrase, enableSecret } = source;
  return Object.fromEntries(Object.entries({ password, privateKey, passphrase, enableSecret }).filter(([, v]) => v !== undefined));
}

/** A private key ssh2 can use with this passphrase; the error says what is wrong, never the key. */
function checkPrivateKey(privateKey: string, passphrase: string | undefined): void {
  const parsed = sshUtils.parseKey(privateKey, passphrase);
  const error = parsed instanceof Error ? parsed : Array.isArray(parsed) && parsed.length === 0 ? new Error('no key found') : undefined;
  if (!error) return;
  const reason = /passphrase/i.test(error.message) ? error.message.replace(/^.*?(bad passphrase|no passphrase given).*$/i, (_, r: string) => r) : error.message;
  throw new DomainError('invalid_payload', `privateKey is not a usable SSH private key: ${reason}`, { field: 'privateKey' });
}
