import { lookup as dnsLookup } from 'node:dns/promises';
import { DomainError } from '@portolan/contracts/errors';
import { ipv4ToString, parseIpv4 } from './ipv4';
import { ipv6ToString, parseIpv6 } from './ipv6';
import { normalizeTargets, type TargetEntry, type TargetSpec } from './target-spec.model';

/** Resolves a host name to its addresses; shaped like dns.promises.lookup(name, { all: true }). */
export type HostLookup = (name: string) => Promise<ReadonlyArray<{ address: string; family: number }>>;

const systemLookup: HostLookup = (name) => dnsLookup(name, { all: true });

export interface ResolvedTargets {
  /** The spec with every host name replaced by its addresses, normalised. */
  spec: TargetSpec;
  /** Address text (as in spec) → the host name it came from (the first name, if several). */
  names: Record<string, string>;
}

function toEntry(address: string): TargetEntry | undefined {
  const v4 = parseIpv4(address);
  if (v4.ok) return { kind: 'ipv4', from: v4.value, to: v4.value };
  const v6 = parseIpv6(address);
  return v6.ok ? { kind: 'ipv6', address: ipv6ToString(v6.value) } : undefined;
}

async function resolveOne(name: string, lookup: HostLookup): Promise<TargetEntry[]> {
  let results: ReadonlyArray<{ address: string }>;
  try {
    results = await lookup(name);
  } catch (error) {
    const cause = (error as { code?: unknown }).code;
    throw new DomainError('invalid_target', `host name "${name}" does not resolve`, {
      hostname: name,
      ...(typeof cause === 'string' ? { cause } : {}),
    });
  }
  const entries = results.map((r) => toEntry(r.address)).filter((e): e is TargetEntry => e !== undefined);
  if (entries.length === 0) {
    throw new DomainError('invalid_target', `host name "${name}" does not resolve`, { hostname: name });
  }
  return entries;
}

/**
 * Replace host-name entries by the addresses they resolve to (every address, IPv4 and IPv6).
 * The lookup is the only I/O in this library and is injectable for tests.
 */
export async function resolveHostnames(
  spec: TargetSpec,
  lookup: HostLookup = systemLookup,
): Promise<ResolvedTargets> {
  const hostnames = spec.entries.flatMap((e) => (e.kind === 'hostname' ? [e.name] : []));
  const resolved = await Promise.all(hostnames.map((name) => resolveOne(name, lookup)));
  const names: Record<string, string> = {};
  hostnames.forEach((name, i) => {
    for (const entry of resolved[i]) {
      const key = entry.kind === 'ipv4' ? ipv4ToString(entry.from) : entry.kind === 'ipv6' ? entry.address : entry.name;
      if (!Object.hasOwn(names, key)) names[key] = name;
    }
  });
  const addresses = spec.entries.filter((e) => e.kind !== 'hostname');
  return { spec: normalizeTargets([...addresses, ...resolved.flat()]), names };
}
