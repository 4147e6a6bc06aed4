import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DomainError, RotateSecretResponse } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { DATA_SOURCE, LOGGER } from '@portolan/platform';
import { AgentDirectory } from './agent.directory';
import { hashCredential, newAgentSecret } from './agent-credentials';

/** Revocation and rotation of agent secrets; both take effect at once on every gateway replica. */
@Injectable()
export class AgentSecretsService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly directory: AgentDirectory,
  ) {}

  async rotate(agentId: string): Promise<RotateSecretResponse> {
    const secret = newAgentSecret();
    await this.db.query(`UPDATE agents SET secret_hash = $2, secret_rotated_at = now() WHERE id = $1 AND status <> 'revoked'`, [agentId, hashCredential(secret)]);
    this.directory.credentialsChanged(agentId, 'rotated');
    this.logger.info({ agentId }, 'agent secret rotated');
    return { secret };
  }

  async revoke(agentId: string): Promise<void> {
    const [rows]: [{ id: string }[], number] = await this.db.query(`UPDATE agents SET status = 'revoked', revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id`, [agentId]);
    if (!rows.length) throw new DomainError('not_found', `agent ${agentId} does not exist`);
    this.directory.credentialsChanged(agentId, 'revoked');
    this.logger.info({ agentId }, 'agent revoked');
  }
}
