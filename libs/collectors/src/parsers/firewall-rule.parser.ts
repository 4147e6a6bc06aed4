/** A Windows Firewall rule as its registry string describes it (`v2.30|Action=Allow|Dir=In|...|`). */
export interface FirewallRule {
  readonly action: string;
  readonly direction: string;
  readonly protocol: string;
  readonly localPorts: string;
  readonly remotePorts: string;
  readonly profiles: string;
  readonly enabled: boolean;
  readonly application: string | null;
  readonly service: string | null;
  readonly name: string | null;
}

const PROTOCOLS: Record<string, string> = { '1': 'icmp', '6': 'tcp', '17': 'udp', '58': 'icmpv6', '47': 'gre', '41': 'ipv6' };

/**
 * The fields of a firewall rule string. Repeated fields (`LPort`, `Profile`) are collected and
 * sorted so the same rule always reads the same; absent ports and profiles mean "any" / "all",
 * as Windows reads them. Returns undefined for a string that is not a rule (no version, no Action).
 */
export function parseFirewallRule(text: string): FirewallRule | undefined {
  const parts = text.split('|').filter(Boolean);
  if (!parts.length || !/^v\d+\.\d+$/.test(parts[0])) return undefined;
  const fields = new Map<string, string[]>();
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq);
    fields.set(name, [...(fields.get(name) ?? []), part.slice(eq + 1)]);
  }
  const one = (name: string) => fields.get(name)?.[0];
  const list = (name: string, none: string) => {
    const values = [...new Set(fields.get(name) ?? [])].sort(compareNatural);
    return values.length ? values.join(',') : none;
  };
  const action = one('Action');
  if (!action) return undefined;
  const protocol = one('Protocol');
  return {
    action: action.toLowerCase(),
    direction: (one('Dir') ?? 'In').toLowerCase() === 'out' ? 'out' : 'in',
    protocol: protocol === undefined ? 'any' : (PROTOCOLS[protocol] ?? protocol),
    localPorts: list('LPort', 'any'),
    remotePorts: list('RPort', 'any'),
    profiles: list('Profile', 'all').toLowerCase(),
    enabled: (one('Active') ?? 'TRUE').toUpperCase() === 'TRUE',
    application: one('App') ?? null,
    service: one('Svc') ?? null,
    name: one('Name') ?? null,
  };
}

function compareNatural(a: string, b: string): number {
  const na = parseInt(a, 10);
  const nb = parseInt(b, 10);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
