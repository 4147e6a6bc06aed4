import { countPorts } from './port-set';
import type { PortSet } from './port-spec.model';
import { countHosts, type TargetSpec } from './target-spec.model';

/** Probes a scan sends at most: hosts × (TCP ports + UDP ports). */
export function countProbes(spec: TargetSpec, ports: PortSet): number {
  return countHosts(spec) * countPorts(ports).total;
}
