import { AgentFeatures, DomainError } from '@portolan/contracts';
import { MAX_PACED_SCAN_MS, pacedScanMs, slowestScanRate } from '@portolan/nmap';
import { AgentEntity, PortSetRecord, TrackerEntity } from '@portolan/persistence';
import { countPorts } from '@portolan/targets';

/**
 * A pace is for scans nmap runs (a self-scan lists sockets, a collector reads the device), and
 * must let a run of the whole device finish within MAX_PACED_SCAN_MS: a scanning agent scans it
 * with one nmap, scanner workers chunk by chunk, one after another (so at the pace, as long).
 */
export function assertPace(mode: TrackerEntity['mode'], hostCount: number, portSet: PortSetRecord, maxRate: number | null | undefined): void {
  if (maxRate === undefined || maxRate === null) return;
  if (mode !== 'network' && mode !== 'remote') {
    throw new DomainError('invalid_payload', `maxRate paces the probes of a remote or network scan; ${mode === 'agentless' ? 'an' : 'a'} ${mode} tracker sends none`, { field: 'maxRate' });
  }
  const hosts = hostCount;
  const probes = hosts * countPorts(portSet).total;
  if (pacedScanMs(probes, hosts, maxRate) > MAX_PACED_SCAN_MS) {
    const least = Math.ceil(slowestScanRate(probes, hosts) * 1000) / 1000;
    throw new DomainError('invalid_payload', `maxRate ${maxRate} is too slow: one scan of ${hosts === 1 ? 'a host' : `${hosts} hosts`} over ${countPorts(portSet).total} ports would take more than ${MAX_PACED_SCAN_MS / 86_400_000} days; at least ${least} probes a second`, { field: 'maxRate' });
  }
}

/**
 * A paced tracker's agent must say that it paces its scans (an agent from before the pace would
 * scan at full speed): 409, naming maxRate and what to do.
 */
export function assertAgentPaces(maxRate: number | null | undefined, agent: Pick<AgentEntity, 'name' | 'version' | 'features'>): void {
  const unable = cannotRun({ maxRate: maxRate ?? null }, agent);
  if (unable) throw new DomainError('conflict', `maxRate: ${unable}`, { field: 'maxRate' });
}

/**
 * Why the agent's program cannot run the tracker as the operator set it, if it cannot: a paced
 * scan run at full speed is what the pace is there to prevent (a fragile device, a thin link), so
 * it is not handed over at all.
 */
export function cannotRun(tracker: Pick<TrackerEntity, 'maxRate'>, agent: { name: string; version: string; features: readonly string[] }): string | undefined {
  if (tracker.maxRate !== null && !agent.features.includes(AgentFeatures.scanPace)) {
    return `the tracker paces its scans (maxRate ${tracker.maxRate}), and agent "${agent.name}" (version ${agent.version}) does not say it can (feature "${AgentFeatures.scanPace}"); upgrade the agent, or clear maxRate`;
  }
  return undefined;
}
