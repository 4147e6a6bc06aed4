/**
 * Renders hosts as nmap XML in randomly varied but well-formed ways, for the parity properties
 * between NmapXmlFastReader and the saxes reader: attribute order and quoting, entity and
 * character references, whitespace and line breaks inside tags, self-closing or open/close
 * forms, comments, PIs, CDATA and elements Portolan ignores. A seed drives every choice.
 */
import type { HostObservation } from '../scan-outcome';

export interface VariantHost extends HostObservation {
  mac?: string;
}

/** mulberry32: small, deterministic, good enough to pick renderings. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function renderVariant(hosts: readonly VariantHost[], seed: number): string {
  const random = prng(seed);
  const chance = (p: number): boolean => random() < p;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const space = (): string => pick([' ', ' ', ' ', '  ', '\n', '\t', '\r\n', ' \n  ']);

  const escape = (text: string, quote: string): string =>
    [...text]
      .map((c) => {
        if (c === '&') return pick(['&amp;', '&#38;', '&#x26;']);
        if (c === '<') return pick(['&lt;', '&#60;']);
        if (c === quote) return quote === '"' ? pick(['&quot;', '&#34;']) : pick(['&apos;', '&#39;']);
        if (c === '>' && chance(0.5)) return '&gt;';
        if (c === '\n' || c === '\t' || c === '\r') return `&#${c.charCodeAt(0)};`;
        if (c === ' ' && chance(0.1)) return pick(['\n', '\t', '\r\n']); // read back as one space
        if (chance(0.05)) return chance(0.5) ? `&#${c.codePointAt(0)};` : `&#x${(c.codePointAt(0) ?? 0).toString(16)};`;
        return c;
      })
      .join('');

  const tag = (name: string, attrs: [string, string | number | undefined][], body?: string): string => {
    const present = attrs.filter((a): a is [string, string | number] => a[1] !== undefined);
    if (chance(0.3)) present.sort(() => random() - 0.5);
    const quote = chance(0.8) ? '"' : "'";
    const list = present.map(([key, value]) => `${space()}${key}${chance(0.1) ? ' = ' : '='}${quote}${escape(String(value), quote)}${quote}`).join('');
    const tail = chance(0.1) ? space() : '';
    if (body === undefined && chance(0.7)) return `<${name}${list}${tail}/>`;
    return `<${name}${list}${tail}>${body ?? ''}</${name}${chance(0.1) ? ' ' : ''}>`;
  };
  const noise = (): string => {
    if (!chance(0.15)) return chance(0.5) ? '\n' : '';
    return pick(['<!-- a comment - with dashes -->', '<?pi some data?>', '\n  \n', '<![CDATA[ <raw> & ]]>', '<extra a="1"><deeper/></extra>']);
  };

  const body = hosts.map((host) => {
    const addresses = host.addresses.map((a) => tag('address', [['addr', a.addr], ['addrtype', a.type], ['vendor', host.mac ? 'QEMU' : undefined]]));
    const names = host.hostnames.map((n) => tag('hostname', [['name', n], ['type', pick(['PTR', 'user'])]]));
    const ports = host.ports.map((p) => {
      const state = tag('state', [['state', p.state], ['reason', p.reason], ['reason_ttl', 64]]);
      const cpe = chance(0.3) ? `<cpe>cpe:/a:${escape(p.product ?? 'x', '"')}</cpe>` : undefined;
      const service =
        p.service !== undefined || p.product !== undefined || p.version !== undefined
          ? tag('service', [['name', p.service], ['product', p.product], ['version', p.version], ['method', 'probed'], ['conf', 10]], cpe)
          : '';
      const script = chance(0.2) ? tag('script', [['id', 'banner'], ['output', '\n  line & <more>']]) : '';
      return tag('port', [['protocol', p.protocol], ['portid', p.port]], `${noise()}${state}${noise()}${service}${script}`);
    });
    const status = tag('status', [['state', host.state], ['reason', host.reason], ['reason_ttl', 0]]);
    const inner = [status, ...addresses, `<hostnames>${names.join(noise())}</hostnames>`, `<ports>${noise()}${ports.join(noise())}</ports>`, tag('times', [['srtt', 1]])];
    const progress = chance(0.3) ? tag('taskprogress', [['task', 'SYN Stealth Scan'], ['percent', (random() * 100).toFixed(2)], ['remaining', Math.floor(random() * 60)]]) : '';
    return `${progress}${noise()}${tag('host', [['starttime', 1], ['endtime', 2]], inner.join(noise()))}\n`;
  });
  const up = hosts.filter((h) => h.state === 'up').length;
  const prologue = `${chance(0.8) ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ''}${chance(0.5) ? '<!DOCTYPE nmaprun>\n' : ''}${chance(0.5) ? '<?xml-stylesheet href="nmap.xsl" type="text/xsl"?>\n' : ''}<!-- Nmap 7.93 scan -&#45;stats-every 2s -->\n`;
  const run = tag('nmaprun', [['scanner', 'nmap'], ['args', 'nmap -oX - --stats-every 2s'], ['start', 1795341600], ['version', '7.93'], ['xmloutputversion', '1.05']], '\n');
  const runstats = `<runstats>${tag('finished', [['time', 2], ['elapsed', '1.00'], ['exit', 'success'], ['summary', 'done & "dusted"']])}${tag('hosts', [['up', up], ['down', hosts.length - up], ['total', hosts.length]])}\n</runstats>\n`;
  return `${prologue}${run.slice(0, run.indexOf('>') + 1)}\n${hosts.length > 0 && chance(0.3) ? '<hosthint><status state="up"/><address addr="10.9.9.9" addrtype="ipv4"/></hosthint>\n' : ''}${body.join('')}${runstats}</nmaprun>\n`;
}
