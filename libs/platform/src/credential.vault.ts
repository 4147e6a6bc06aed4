import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { CredentialEntity, CredentialType } from '@portolan/persistence';
import { SecretBox } from '@portolan/vault';
import { DATA_SOURCE, LOGGER, SECRET_BOX } from './tokens';

/** The secret parts of a credential: sealed at rest, write-only in the API, never logged. */
export interface CredentialSecrets {
  readonly password?: string;
  readonly privateKey?: string;
  readonly passphrase?: string;
  readonly enableSecret?: string;
}

/** A credential opened for use by a collector, for the one job it runs. */
export interface OpenedCredential extends CredentialSecrets {
  readonly id: string;
  readonly name: string;
  readonly type: CredentialType;
  readonly username: string | null;
  readonly domain: string | null;
}

/**
 * Seals credential secrets with the hub's master key (AES-256-GCM, bound to the credential's
 * id) and opens them for the collector that runs a job. `reseal` re-encrypts every credential
 * not sealed with the active key: rotating the master key is putting the new key first in the
 * ring, resealing, then removing the old key.
 */
@Injectable()
export class CredentialVault {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get activeKeyId(): string {
    return this.box.activeKeyId;
  }

  /** The columns that store these secrets: the sealed value (null when there are none) and their names. */
  seal(credentialId: string, secrets: CredentialSecrets): Pick<CredentialEntity, 'secretCiphertext' | 'secretFields'> {
    const present = Object.fromEntries(Object.entries(secrets).filter(([, v]) => v !== undefined && v !== ''));
    const fields = Object.keys(present).sort();
    return { secretCiphertext: fields.length ? this.box.seal(Buffer.from(JSON.stringify(present), 'utf8'), credentialId) : null, secretFields: fields };
  }

  /** Which secrets a credential holds (for the API's flags) and the key that sealed them, without opening them. */
  describe(credential: Pick<CredentialEntity, 'secretCiphertext' | 'secretFields'>): { [K in keyof CredentialSecrets]-?: boolean } & { keyId: string | null } {
    const has = (name: keyof CredentialSecrets) => credential.secretFields.includes(name);
    return {
      password: has('password'),
      privateKey: has('privateKey'),
      passphrase: has('passphrase'),
      enableSecret: has('enableSecret'),
      keyId: credential.secretCiphertext ? this.box.keyIdOf(Buffer.from(credential.secretCiphertext)) : null,
    };
  }

  async open(credentialId: string, manager: EntityManager = this.db.manager): Promise<OpenedCredential> {
    const row = await manager.findOneBy(CredentialEntity, { id: credentialId });
    if (!row) throw new DomainError('not_found', `credential ${credentialId} does not exist`);
    const secrets = row.secretCiphertext ? this.openSecrets(row.id, row.secretCiphertext) : {};
    return { id: row.id, name: row.name, type: row.type, username: row.username, domain: row.domain, ...secrets };
  }

  /** Re-encrypts, in one transaction, every credential sealed with another key than the active one. */
  async reseal(): Promise<{ total: number; resealed: number; activeKeyId: string }> {
    const result = await this.db.transaction(async (manager) => {
      const rows: { id: string; secret_ciphertext: Buffer }[] = await manager.query('SELECT id, secret_ciphertext FROM credentials WHERE secret_ciphertext IS NOT NULL ORDER BY id FOR UPDATE');
      let resealed = 0;
      for (const row of rows) {
        const sealed = Buffer.from(row.secret_ciphertext);
        if (!this.box.needsReseal(sealed)) continue;
        await manager.query('UPDATE credentials SET secret_ciphertext = $2, updated_at = now() WHERE id = $1', [row.id, this.box.seal(this.box.open(sealed, row.id), row.id)]);
        resealed += 1;
      }
      return { total: rows.length, resealed, activeKeyId: this.box.activeKeyId };
    });
    this.logger.info(result, 'credentials resealed with the active master key');
    return result;
  }

  private openSecrets(credentialId: string, sealed: Buffer): CredentialSecrets {
    return JSON.parse(this.box.open(Buffer.from(sealed), credentialId).toString('utf8')) as CredentialSecrets;
  }
}
