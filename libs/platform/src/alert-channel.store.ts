import { Inject, Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ChannelSecrets, ChannelSettings, ChannelType, checkChannel } from '@portolan/alerts';
import { DomainError } from '@portolan/contracts';
import { SecretBox } from '@portolan/vault';
import { SECRET_BOX } from './tokens';

export interface StoredChannel {
  readonly id: string;
  readonly name: string;
  readonly type: ChannelType;
  readonly settings: ChannelSettings;
  readonly secrets: ChannelSecrets;
  readonly status: 'healthy' | 'degraded';
}

interface ChannelRow {
  id: string;
  name: string;
  type: ChannelType;
  settings: Record<string, unknown>;
  secret_ciphertext: Buffer | null;
  status: 'healthy' | 'degraded';
}

/**
 * Alert channels with their secrets (a webhook's signing secret, a Slack or Teams webhook URL)
 * sealed under the master key, bound to the channel id; opened only to deliver.
 */
@Injectable()
export class AlertChannelStore {
  constructor(@Inject(SECRET_BOX) private readonly box: SecretBox) {}

  /** The sealed form of a channel's secrets, and their names (for the API's flags). */
  seal(channelId: string, secrets: ChannelSecrets): { ciphertext: Buffer | null; fields: string[] } {
    const present = Object.fromEntries(Object.entries(secrets).filter(([, v]) => typeof v === 'string' && v.length > 0));
    const fields = Object.keys(present).sort();
    return { ciphertext: fields.length ? this.box.seal(Buffer.from(JSON.stringify(present), 'utf8'), channelId) : null, fields };
  }

  async load(manager: Pick<EntityManager, 'query'>, channelId: string): Promise<StoredChannel> {
    const [row]: ChannelRow[] = await manager.query('SELECT id, name, type, settings, secret_ciphertext, status FROM alert_channels WHERE id = $1', [channelId]);
    if (!row) throw new DomainError('not_found', `alert channel ${channelId} does not exist`);
    const secrets = row.secret_ciphertext ? (JSON.parse(this.box.open(row.secret_ciphertext, row.id).toString('utf8')) as ChannelSecrets) : {};
    return { id: row.id, name: row.name, type: row.type, settings: checkChannel(row.type, row.settings, secrets), secrets, status: row.status };
  }
}
