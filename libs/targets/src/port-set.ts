import { DomainError } from '@portolan/contracts/errors';
import { findInterval, intervalsSize } from './intervals';
import type { PortRange, PortSet, Protocol } from './port-spec.model';

/** `22,80,8000-8100`: the list form parsePortList reads back. */
export function formatPortRanges(ranges: readonly PortRange[]): string {
  return ranges.map(({ from, to }) => (from === to ? `${from}` : `${from}-${to}`)).join(',');
}

export function countPorts(set: PortSet): { tcp: number; udp: number; total: number } {
  const tcp = intervalsSize(set.tcp);
  const udp = intervalsSize(set.udp);
  return { tcp, udp, total: tcp + udp };
}

/** Whether the set holds the port for the protocol (binary search over the sorted ranges). */
export function portSetContains(set: PortSet, protocol: Protocol, port: number): boolean {
  return findInterval(set[protocol], port) !== undefined;
}

/** nmap's -p argument, e.g. `T:22,80,U:53`. Throws DomainError('invalid_port_spec') when empty. */
export function toNmapPortArg(set: PortSet): string {
  const parts: string[] = [];
  if (set.tcp.length > 0) parts.push(`T:${formatPortRanges(set.tcp)}`);
  if (set.udp.length > 0) parts.push(`U:${formatPortRanges(set.udp)}`);
  if (parts.length === 0) throw new DomainError('invalid_port_spec', 'port set is empty: nothing to scan', {});
  return parts.join(',');
}

/** The ports in both sets, per protocol (ranges are sorted and disjoint in a PortSet). */
export function intersectPortSets(a: PortSet, b: PortSet): PortSet {
  const both = (x: readonly PortRange[], y: readonly PortRange[]): PortRange[] => {
    const out: PortRange[] = [];
    let i = 0;
    let j = 0;
    while (i < x.length && j < y.length) {
      const from = Math.max(x[i].from, y[j].from);
      const to = Math.min(x[i].to, y[j].to);
      if (from <= to) out.push({ from, to });
      if (x[i].to < y[j].to) i += 1;
      else j += 1;
    }
    return out;
  };
  return { tcp: both(a.tcp, b.tcp), udp: both(a.udp, b.udp) };
}
