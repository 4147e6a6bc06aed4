import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { DomainError } from '@portolan/contracts/errors';

const VERSION = 1;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

/** One AES-256 master key and its id (the first 8 bytes of its SHA-256, shown as hex). */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

export function masterKey(key: Buffer): MasterKey {
  if (key.length !== KEY_BYTES) throw new DomainError('invalid_config', `a master key is ${KEY_BYTES} bytes (base64 of 32 random bytes); this one is ${key.length}`);
  return { id: createHash('sha256').update(key).digest().subarray(0, KEY_ID_BYTES).toString('hex'), key: Buffer.from(key) };
}

export function newMasterKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/**
 * Seals secrets with AES-256-GCM under a key ring: the first key encrypts, every key decrypts
 * (the others are older keys kept while credentials are re-encrypted, see `needsReseal`). A
 * sealed value is `version | key id | iv | tag | ciphertext`, and it is bound to `context` (the
 * credential's id) as additional data, so a ciphertext copied onto another row does not open.
 * Error messages name key ids, never key or secret bytes.
 */
export class SecretBox {
  private readonly keys: ReadonlyMap<string, MasterKey>;

  constructor(private readonly ring: readonly MasterKey[]) {
    if (!ring.length) throw new DomainError('invalid_config', 'the key ring holds no master key');
    this.keys = new Map(ring.map((k) => [k.id, k]));
  }

  /** The id of the key new secrets are sealed with. */
  get activeKeyId(): string {
    return this.ring[0].id;
  }

  get keyIds(): readonly string[] {
    return this.ring.map((k) => k.id);
  }

  seal(plaintext: Buffer, context: string): Buffer {
    const active = this.ring[0];
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', active.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), Buffer.from(active.id, 'hex'), iv, cipher.getAuthTag(), ciphertext]);
  }

  open(sealed: Buffer, context: string): Buffer {
    const keyId = this.keyIdOf(sealed);
    const key = this.keys.get(keyId);
    if (!key) throw new DomainError('invalid_config', `this secret was sealed with master key ${keyId}, which the hub does not hold (it holds ${this.keyIds.join(', ')})`);
    const iv = sealed.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + IV_BYTES);
    const tag = sealed.subarray(1 + KEY_ID_BYTES + IV_BYTES, HEADER_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key.key, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]);
    } catch {
      throw new DomainError('invalid_config', `a secret sealed with master key ${keyId} does not open: it was altered, or it belongs to another record`);
    }
  }

  /** Whether a sealed value was sealed with another key than the active one. */
  needsReseal(sealed: Buffer): boolean {
    return this.keyIdOf(sealed) !== this.activeKeyId;
  }

  keyIdOf(sealed: Buffer): string {
    if (sealed.length < HEADER_BYTES || sealed[0] !== VERSION) throw new DomainError('invalid_config', `a sealed secret is malformed (${sealed.length} bytes, format ${sealed[0] ?? 'none'})`);
    return sealed.subarray(1, 1 + KEY_ID_BYTES).toString('hex');
  }
}
