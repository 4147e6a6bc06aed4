/**
 * Writes two nmap 7.93 `-oX` documents for the diff benchmark: 5,000 hosts with 20 open ports
 * each (service detection on, the rest of 1-65535 folded into extraports), and a second run in
 * which ~3% of the hosts changed (ports closed, ports opened, a service upgraded).
 *
 *   node -r @swc-node/register bench/diff/generate.ts [hosts] [outDir]
 *
 * Output: bench/out/scan-a.xml, bench/out/scan-b.xml, bench/out/expected.json (change counts).
 */
import { once } from 'node:events';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface ServiceDef {
  port: number;
  name: string;
  product?: string;
  version?: string;
  extrainfo?: string;
  cpe?: string;
}

/** A pool of plausible services; each host runs 20 of them. */
const POOL: ServiceDef[] = [
  { port: 21, name: 'ftp', product: 'vsftpd', version: '3.0.3', cpe: 'cpe:/a:vsftpd:vsftpd:3.0.3' },
  { port: 22, name: 'ssh', product: 'OpenSSH', version: '9.2p1 Debian 2+deb12u3', extrainfo: 'protocol 2.0', cpe: 'cpe:/a:openbsd:openssh:9.2p1' },
  { port: 25, name: 'smtp', product: 'Postfix smtpd', cpe: 'cpe:/a:postfix:postfix' },
  { port: 53, name: 'domain', product: 'ISC BIND', version: '9.18.28-1~deb12u2', cpe: 'cpe:/a:isc:bind:9.18.28-1~deb12u2' },
  { port: 80, name: 'http', product: 'nginx', version: '1.22.1', cpe: 'cpe:/a:igor_sysoev:nginx:1.22.1' },
  { port: 110, name: 'pop3', product: 'Dovecot pop3d' },
  { port: 111, name: 'rpcbind', version: '2-4', extrainfo: 'RPC #100000' },
  { port: 135, name: 'msrpc', product: 'Microsoft Windows RPC' },
  { port: 139, name: 'netbios-ssn', product: 'Samba smbd', version: '4.6.2' },
  { port: 143, name: 'imap', product: 'Dovecot imapd' },
  { port: 389, name: 'ldap', product: 'OpenLDAP', version: '2.2.X - 2.3.X' },
  { port: 443, name: 'http', product: 'Apache httpd', version: '2.4.62', extrainfo: '(Debian)', cpe: 'cpe:/a:apache:http_server:2.4.62' },
  { port: 445, name: 'microsoft-ds' },
  { port: 587, name: 'smtp', product: 'Postfix smtpd' },
  { port: 631, name: 'ipp', product: 'CUPS', version: '2.4', cpe: 'cpe:/a:apple:cups:2.4' },
  { port: 993, name: 'imaps' },
  { port: 995, name: 'pop3s' },
  { port: 1433, name: 'ms-sql-s', product: 'Microsoft SQL Server 2019', version: '15.00.2000' },
  { port: 2049, name: 'nfs_acl', version: '3', extrainfo: 'RPC #100227' },
  { port: 3306, name: 'mysql', product: 'MySQL', version: '8.0.35' },
  { port: 3389, name: 'ms-wbt-server', product: 'Microsoft Terminal Services' },
  { port: 5432, name: 'postgresql', product: 'PostgreSQL DB', version: '15.5 - 15.8' },
  { port: 5900, name: 'vnc', product: 'VNC', extrainfo: 'protocol 3.8' },
  { port: 5985, name: 'http', product: 'Microsoft HTTPAPI httpd', version: '2.0', extrainfo: 'SSDP/UPnP' },
  { port: 6379, name: 'redis', product: 'Redis key-value store', version: '7.0.15' },
  { port: 8000, name: 'http', product: 'Uvicorn' },
  { port: 8080, name: 'http', product: 'Apache Tomcat', version: '10.1.24' },
  { port: 8443, name: 'ssl/http', product: 'Jetty', version: '9.4.54.v20240208' },
  { port: 9090, name: 'http', product: 'Golang net/http server', extrainfo: 'Go-IPFS json-rpc or InfluxDB API' },
  { port: 9100, name: 'jetdirect' },
  { port: 9200, name: 'http', product: 'Elasticsearch REST API', version: '8.13.4' },
  { port: 11211, name: 'memcached', product: 'Memcached', version: '1.6.21' },
  { port: 27017, name: 'mongodb', product: 'MongoDB', version: '6.0.16' },
  { port: 50000, name: 'ibm-db2' },
];

/** Deterministic PRNG (mulberry32) so both runs of the generator agree. */
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

function pick<T>(random: () => number, items: T[], count: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

const escapeXml = (text: string): string =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

function closedRanges(open: number[]): string {
  const parts: string[] = [];
  let next = 1;
  for (const port of [...open, 65536]) {
    if (port > next) parts.push(port - 1 === next ? String(next) : `${next}-${port - 1}`);
    next = port + 1;
  }
  return parts.join(',');
}

function renderPort(def: ServiceDef): string {
  const attrs = [`name="${escapeXml(def.name)}"`];
  if (def.product) attrs.push(`product="${escapeXml(def.product)}"`);
  if (def.version) attrs.push(`version="${escapeXml(def.version)}"`);
  if (def.extrainfo) attrs.push(`extrainfo="${escapeXml(def.extrainfo)}"`);
  attrs.push(def.product ? 'method="probed" conf="10"' : 'method="table" conf="3"');
  const service = def.cpe ? `<service ${attrs.join(' ')}><cpe>${escapeXml(def.cpe)}</cpe></service>` : `<service ${attrs.join(' ')}/>`;
  return `<port protocol="tcp" portid="${def.port}"><state state="open" reason="syn-ack" reason_ttl="64"/>${service}</port>\n`;
}

function hostAddress(index: number): string {
  return `10.40.${Math.floor((index + 1) / 256)}.${(index + 1) % 256}`;
}

function renderHost(index: number, services: ServiceDef[], time: number): string {
  const sorted = [...services].sort((a, b) => a.port - b.port);
  const open = sorted.map((s) => s.port);
  const mac = `52:54:00:${[index >> 16, (index >> 8) & 255, index & 255].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
  return (
    `<host starttime="${time}" endtime="${time + 41}"><status state="up" reason="arp-response" reason_ttl="0"/>\n` +
    `<address addr="${hostAddress(index)}" addrtype="ipv4"/>\n<address addr="${mac}" addrtype="mac" vendor="QEMU virtual NIC"/>\n` +
    `<hostnames>\n</hostnames>\n<ports><extraports state="closed" count="${65535 - open.length}">\n` +
    `<extrareasons reason="reset" count="${65535 - open.length}" proto="tcp" ports="${closedRanges(open)}"/>\n</extraports>\n` +
    sorted.map(renderPort).join('') +
    `</ports>\n<times srtt="${200 + (index % 300)}" rttvar="${50 + (index % 90)}" to="100000"/>\n</host>\n`
  );
}

interface Expected {
  hosts: number;
  changedHosts: number;
  added: number;
  removed: number;
  modified: number;
}

/** nmap's timestr format (C ctime without the newline): 'Sun Nov 22 10:00:00 2026'. */
function ctime(epochSeconds: number): string {
  const [day, month, date, year, clock] = new Date(epochSeconds * 1000).toUTCString().replace(',', '').split(' ');
  return `${day} ${month} ${date.replace(/^0/, ' ')} ${clock} ${year}`;
}

/** Addresses scanned: a /19 of which the hosts written are the ones up. */
const SCANNED_ADDRESSES = 8192;

async function writeScan(path: string, hostServices: ServiceDef[][], start: number): Promise<void> {
  const out = createWriteStream(path);
  const args = `nmap -oX ${path.split('/').pop()} -sS -sV -p- -n -T4 --stats-every 30s 10.40.0.0/19`;
  const startstr = ctime(start);
  out.write(
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>\n` +
      `<!-- Nmap 7.93 scan initiated ${startstr} as: ${args.replace(/--/g, '-&#45;')} -->\n` +
      `<nmaprun scanner="nmap" args="${args.replace(/--/g, '-&#45;')}" start="${start}" startstr="${startstr}" version="7.93" xmloutputversion="1.05">\n` +
      `<scaninfo type="syn" protocol="tcp" numservices="65535" services="1-65535"/>\n<verbose level="0"/>\n<debugging level="0"/>\n`,
  );
  let time = start;
  for (let index = 0; index < hostServices.length; index += 1) {
    if (index % 256 === 0) {
      out.write(`<taskprogress task="SYN Stealth Scan" time="${time}" percent="${((index % 1024) / 10.24).toFixed(2)}" remaining="${600 - (index % 600)}" etc="${time + 600}"/>\n`);
    }
    time += index % 7 === 0 ? 1 : 0;
    if (!out.write(renderHost(index, hostServices[index], time))) await once(out, 'drain');
  }
  const up = hostServices.length;
  const total = Math.max(up, SCANNED_ADDRESSES);
  const finishedStr = ctime(time + 5);
  out.end(
    `<runstats><finished time="${time + 5}" timestr="${finishedStr}" summary="Nmap done at ${finishedStr}; ${total} IP addresses (${up} hosts up) scanned in ${time + 5 - start}.00 seconds" elapsed="${time + 5 - start}.00" exit="success"/><hosts up="${up}" down="${total - up}" total="${total}"/>\n</runstats>\n</nmaprun>\n`,
  );
  await once(out, 'finish');
}

async function main(): Promise<void> {
  const hostCount = Number(process.argv[2] ?? 5000);
  const outDir = resolve(process.argv[3] ?? join(__dirname, '..', 'out'));
  mkdirSync(outDir, { recursive: true });
  const random = prng(20261122);

  const before = Array.from({ length: hostCount }, () => pick(random, POOL, 20));
  const expected: Expected = { hosts: hostCount, changedHosts: 0, added: 0, removed: 0, modified: 0 };
  const after = before.map((services) => {
    if (random() >= 0.03) return services;
    expected.changedHosts += 1;
    const change = Math.floor(random() * 3);
    if (change === 0) {
      const closing = 1 + Math.floor(random() * 2);
      expected.removed += closing;
      return pick(random, services, services.length - closing);
    }
    if (change === 1) {
      const unused = POOL.filter((def) => !services.includes(def));
      const opening = pick(random, unused, 1 + Math.floor(random() * 2));
      expected.added += opening.length;
      return [...services, ...opening];
    }
    const [target] = pick(random, services, 1);
    expected.modified += 1;
    return services.map((def) => (def === target ? { ...def, product: def.product ?? 'unknown', version: `${def.version ?? '1.0'}-patched` } : def));
  });

  const a = join(outDir, 'scan-a.xml');
  const b = join(outDir, 'scan-b.xml');
  await writeScan(a, before, 1795341600);
  await writeScan(b, after, 1795341600 + 86400);
  writeFileSync(join(outDir, 'expected.json'), `${JSON.stringify(expected, null, 2)}\n`);
  console.log(`wrote ${a} and ${b}: ${JSON.stringify(expected)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
