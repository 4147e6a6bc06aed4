export type { TargetEntry, TargetSpec } from './target-spec.model';
export { DEFAULT_MAX_HOSTS, countHosts, normalizeTargets } from './target-spec.model';
export type { ParseTargetOptions } from './target-spec.parser';
export { parseTargetSpec } from './target-spec.parser';
export { formatTargetSpec, listHosts } from './target-spec.format';
export { ipv4FromString, ipv4ToString } from './ipv4';
export { ipv6ToString, normalizeIpv6 } from './ipv6';
export { toNmapTargets } from './nmap-targets';
export { chunkTargets } from './chunking';

export type { PortRange, PortRule, PortSet, Protocol } from './port-spec.model';
export { MAX_PORT, MIN_PORT } from './port-spec.model';
export { buildPortSet, parsePortList } from './port-spec.parser';
export { countPorts, formatPortRanges, intersectPortSets, portSetContains, toNmapPortArg } from './port-set';

export type { Cidr } from './cidr-list.parser';
export { parseCidr, parseCidrList } from './cidr-list.parser';
export type { ScopeOptions } from './scope-guard';
export { DEFAULT_SCOPE, ScopeGuard } from './scope-guard';
export type { HostLookup, ResolvedTargets } from './hostname-resolver';
export { resolveHostnames } from './hostname-resolver';

export { countProbes } from './probes';
