import { Inject, Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { AgentConfig, AgentTracker, isDomainError } from '@portolan/contracts';
import { Logger } from '@portolan/logging';
import { scanTimeoutMs } from '@portolan/nmap';
import { DeviceEntity, SiteEntity, TrackerEntity } from '@portolan/persistence';
import { DATA_SOURCE, LOGGER, SCOPE_GUARD } from '@portolan/platform';
import { countHosts, countPorts, parseTargetSpec, resolveHostnames, ScopeGuard, toNmapTargets } from '@portolan/targets';
import { HubCertificatesService } from '../hub-certificates/hub-certificates.service';
import { cannotRun } from '../trackers/tracker-pace.rules';
import { AuthenticatedAgent } from './agent.directory';

/** The run timeout an agent gives nmap: a base plus an allowance per probe, and the time its pace needs (as the scheduler does for chunks). */
const AGENT_SCAN_BUDGET = { baseMs: 10 * 60_000, perProbeMs: 5 };

/**
 * What an agent runs: its enabled trackers with their schedules and port sets. For remote and
 * network scans the hub resolves the device's address and applies its scope guard here, so a
 * scanning agent gets only nmap-ready targets that the operator allowed; a tracker whose
 * address fails that is left out and logged. With them, the fingerprints of the hub's
 * certificates in use, for an agent that pins the hub.
 */
@Injectable()
export class AgentConfigService {
  constructor(
    @Inject(DATA_SOURCE) private readonly db: DataSource,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCOPE_GUARD) private readonly scope: ScopeGuard,
    private readonly certificates: HubCertificatesService,
  ) {}

  async configVersion(agentId: string): Promise<number> {
    const rows: { config_version: number }[] = await this.db.query('SELECT config_version FROM agents WHERE id = $1', [agentId]);
    return rows[0]?.config_version ?? 0;
  }

  /** The agent's configuration version, with the program it runs: its version and what it can do. */
  private async versionAndProgram(agentId: string): Promise<{ configVersion: number; program: { version: string; features: readonly string[] } }> {
    const rows: { config_version: number; version: string; features: string[] }[] = await this.db.query('SELECT config_version, version, features FROM agents WHERE id = $1', [agentId]);
    return { configVersion: rows[0]?.config_version ?? 0, program: { version: rows[0]?.version ?? 'unknown', features: rows[0]?.features ?? [] } };
  }

  async configFor(agent: AuthenticatedAgent): Promise<AgentConfig> {
    const [{ configVersion, program }, hubPins, site, trackers] = await Promise.all([
      this.versionAndProgram(agent.id),
      this.certificates.pins(),
      agent.siteId ? this.db.getRepository(SiteEntity).findOneBy({ id: agent.siteId }) : null,
      this.db.getRepository(TrackerEntity).find({ where: { agentId: agent.id, enabled: true }, order: { createdAt: 'ASC' } }),
    ]);
    // `findBy([])` would have no WHERE at all (every device), so an agent without trackers asks nothing.
    const deviceIds = [...new Set(trackers.map((t) => t.deviceId))];
    const devices = new Map(deviceIds.length ? (await this.db.getRepository(DeviceEntity).findBy({ id: In(deviceIds) })).map((d) => [d.id, d]) : []);
    const out: AgentTracker[] = [];
    let leftOut = 0;
    for (const tracker of trackers) {
      const device = devices.get(tracker.deviceId);
      // Agentless trackers are the collectors' (the API never gives one an agent).
      if (!device || tracker.mode === 'agentless') continue;
      const base = { id: tracker.id, name: tracker.name, mode: tracker.mode, deviceId: tracker.deviceId, ports: tracker.portSet, schedule: tracker.schedule as AgentTracker['schedule'] };
      if (tracker.mode === 'self') {
        out.push(base);
        continue;
      }
      const unable = cannotRun(tracker, { name: agent.name, ...program });
      if (unable) {
        // Not a passing reason (no retry): an upgraded agent says so on its first poll, which moves its configuration version.
        this.logger.warn({ agentId: agent.id, trackerId: tracker.id, reason: unable }, 'tracker left out of the agent configuration');
        continue;
      }
      try {
        out.push({ ...base, scan: await this.scanOf(tracker, device) });
      } catch (error) {
        if (!isDomainError(error)) throw error;
        leftOut += 1;
        this.logger.warn({ agentId: agent.id, trackerId: tracker.id, code: error.code, err: error.message }, 'tracker left out of the agent configuration');
      }
    }
    // The scheduler's leader has the agent fetch it again in a while (SCHEDULER_AGENT_CONFIG_RETRY_MS): the reason may pass.
    if (leftOut) await this.db.query('UPDATE agents SET config_incomplete_at = coalesce(config_incomplete_at, now()) WHERE id = $1', [agent.id]);
    else await this.db.query('UPDATE agents SET config_incomplete_at = NULL WHERE id = $1 AND config_incomplete_at IS NOT NULL', [agent.id]);
    return { agentId: agent.id, configVersion, site: site?.name ?? 'default', scanner: agent.scanner, trackers: out, hubPins };
  }

  /**
   * What a scanning agent is to scan for a remote or network tracker: the device's address
   * resolved, inside the scope guard, as nmap targets, with the tracker's technique, pace and the
   * timeout they need. Throws the DomainError that says why it cannot be scanned.
   */
  async scanOf(tracker: TrackerEntity, device: DeviceEntity): Promise<NonNullable<AgentTracker['scan']>> {
    const resolved = await resolveHostnames(parseTargetSpec(device.address));
    this.scope.check(resolved.spec);
    const targets = toNmapTargets(resolved.spec.entries);
    const hostCount = countHosts(resolved.spec);
    return {
      targets,
      ipv6: resolved.spec.entries.some((e) => e.kind === 'ipv6'),
      hostNames: Object.fromEntries(Object.entries(resolved.names).filter(([address]) => targets.includes(address))),
      hostCount,
      tcpTechnique: tracker.tcpTechnique,
      skipHostDiscovery: tracker.skipHostDiscovery,
      ...(tracker.maxRate !== null && { maxRate: tracker.maxRate }),
      timeoutMs: scanTimeoutMs(AGENT_SCAN_BUDGET, hostCount * countPorts(tracker.portSet).total, hostCount, tracker.maxRate),
    };
  }
}
