import fc from 'fast-check';
import { Readable } from 'node:stream';
import { NmapXmlError, NmapXmlStreamParser, parseNmapXml } from './nmap-xml.parser';
import type { NmapRunSummary } from './nmap-xml.parser';
import { PORT_STATES } from './scan-outcome';
import type { HostObservation, ScanProgress } from './scan-outcome';
import { FATAL_ERROR, IPV6_UDP, renderNmapXml, THREE_HOSTS, ZERO_HOSTS } from './test/nmap-xml.samples';

type Event = ['host', string] | ['progress', ScanProgress] | ['finished', NmapRunSummary];

function eventsOf(chunks: string[]): Event[] {
  const events: Event[] = [];
  const parser = new NmapXmlStreamParser({
    onHost: (host) => events.push(['host', host.address]),
    onProgress: (progress) => events.push(['progress', progress]),
    onFinished: (summary) => events.push(['finished', summary]),
  });
  chunks.forEach((chunk) => parser.write(chunk));
  parser.end();
  return events;
}

describe('parseNmapXml', () => {
  it('reads run info, hosts, ports and the summary of a document with DOCTYPE and stylesheet', async () => {
    const { run, hosts } = await parseNmapXml(THREE_HOSTS);

    expect(run.version).toBe('7.93');
    expect(run.args).toBe('nmap -oX - --stats-every 2s -n -sS -p T:22,80,443 10.20.30.1-3');
    expect(run.startedAt?.toISOString()).toBe('2026-11-22T10:00:00.000Z');
    expect([run.exit, run.hostsUp, run.hostsDown, run.hostsTotal]).toEqual(['success', 2, 1, 3]);
    expect(run.elapsedSeconds).toBe(8.02);
    expect(hosts.map((h) => [h.address, h.state])).toEqual([
      ['10.20.30.1', 'up'],
      ['10.20.30.2', 'down'],
      ['10.20.30.3', 'up'],
    ]);
  });

  it('keeps service, product and version, and only the ports nmap listed (not extraports)', async () => {
    const { hosts } = await parseNmapXml(THREE_HOSTS);
    const [gateway, down, web] = hosts;

    expect(gateway.ports).toEqual([
      { protocol: 'tcp', port: 22, state: 'open', reason: 'syn-ack', service: 'ssh', product: 'OpenSSH', version: '9.2p1 Debian 2+deb12u3' },
      { protocol: 'tcp', port: 80, state: 'filtered', reason: 'no-response', service: 'http' },
    ]);
    expect(web.ports).toEqual([
      { protocol: 'tcp', port: 443, state: 'open', reason: 'syn-ack', service: 'http', product: 'nginx & "friends"', version: '1.22.1' },
    ]);
    expect(down.ports).toEqual([]);
    expect(down.reason).toBe('no-response');
  });

  it('uses the IP (not the MAC) as the address, keeps all addresses and each host name once', async () => {
    const { hosts } = await parseNmapXml(THREE_HOSTS);

    expect(hosts[0].address).toBe('10.20.30.1');
    expect(hosts[0].addresses).toEqual([
      { addr: '10.20.30.1', type: 'ipv4' },
      { addr: '52:54:00:12:34:56', type: 'mac' },
    ]);
    expect(hosts[0].hostnames).toEqual(['gw.example.test']);
  });

  it('ignores <hosthint> (its address is not a scanned host)', async () => {
    const { hosts } = await parseNmapXml(THREE_HOSTS);
    expect(hosts.map((h) => h.address)).not.toContain('10.20.30.9');
  });

  it('reads IPv6 hosts and UDP states, skipping protocols Portolan never scans', async () => {
    const { hosts } = await parseNmapXml(IPV6_UDP);

    expect(hosts[0].address).toBe('::1');
    expect(hosts[0].addresses).toEqual([{ addr: '::1', type: 'ipv6' }]);
    expect(hosts[0].ports.map((p) => `${p.port}/${p.protocol} ${p.state}`)).toEqual(['22/tcp closed', '53/udp open|filtered']);
  });

  it('reports nmap errormsg from a document without XML declaration', async () => {
    const { run, hosts } = await parseNmapXml(FATAL_ERROR);

    expect(run.exit).toBe('error');
    expect(run.errorMessage).toBe('Ports specified must be between 0 and 65535 inclusive');
    expect(run.version).toBe('');
    expect(hosts).toEqual([]);
  });

  it('reports a run that found zero hosts as total 0 (the caller decides it is an error)', async () => {
    const { run } = await parseNmapXml(ZERO_HOSTS);
    expect([run.exit, run.hostsTotal]).toEqual(['success', 0]);
  });

  it('reads from a Readable of small Buffer chunks, including split multi-byte characters', async () => {
    const doc = THREE_HOSTS.replace('nginx &amp;', 'nginx – ünïcode &amp;');
    const bytes = Buffer.from(doc, 'utf8');
    const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));

    const { hosts } = await parseNmapXml(Readable.from(chunks));

    expect(hosts[2].ports[0].product).toBe('nginx – ünïcode & "friends"');
  });

  it('fails on a truncated document, naming line and column', async () => {
    const truncated = THREE_HOSTS.slice(0, THREE_HOSTS.indexOf('<host starttime="1795341603"') + 40);

    const error = await parseNmapXml(truncated).catch((e: unknown) => e);

    const lines = truncated.split('\n');
    const lastLine = lines.length;
    expect(error).toBeInstanceOf(NmapXmlError);
    expect((error as NmapXmlError).message).toMatch(
      new RegExp(`^Malformed nmap XML at line ${lastLine}, column ${lines[lastLine - 1].length}: the document is truncated \\(unclosed tag: \\w+\\)`),
    );
    expect((error as NmapXmlError).line).toBe(lastLine);
  });

  it('fails on mismatched tags with the position of the fault', async () => {
    const broken = THREE_HOSTS.replace('</hostnames>\n</host>', '</hostnames>\n</hots>');
    const faultLine = broken.slice(0, broken.indexOf('</hots>')).split('\n').length;

    await expect(parseNmapXml(broken)).rejects.toThrow(
      new RegExp(`^Malformed nmap XML at line ${faultLine}, column 7: unexpected close tag`),
    );
  });

  it('fails on a complete document that has no <runstats>', async () => {
    const unfinished = '<nmaprun version="7.93"><host><status state="up"/><address addr="10.0.0.1" addrtype="ipv4"/></host></nmaprun>';
    await expect(parseNmapXml(unfinished)).rejects.toThrow(/no <runstats>/);
  });

  it('fails on a port state nmap never writes', async () => {
    const odd = THREE_HOSTS.replace('state="filtered" reason="no-response" reason_ttl="0"/><service name="http" method="table"', 'state="ajar" reason="x"/><service name="http" method="table"');
    await expect(parseNmapXml(odd)).rejects.toThrow(/unknown port state "ajar"/);
  });

  it('fails on empty input', async () => {
    await expect(parseNmapXml('')).rejects.toThrow(NmapXmlError);
  });
});

describe('NmapXmlStreamParser', () => {
  it('emits progress between hosts with hostsDone counted from hosts seen so far', () => {
    const events = eventsOf([THREE_HOSTS]);

    expect(events.map(([kind]) => kind)).toEqual(['progress', 'host', 'progress', 'host', 'host', 'finished']);
    expect(events[0][1]).toEqual({ percent: 33.33, task: 'SYN Stealth Scan', remainingSeconds: 4, hostsDone: 0 });
    // percent restarts for the next host group; hostsDone keeps counting
    expect(events[2][1]).toEqual({ percent: 10, task: 'SYN Stealth Scan', remainingSeconds: 9, hostsDone: 1 });
  });

  it('emits a host as soon as its </host> arrives, before the rest of the document', () => {
    const seen: string[] = [];
    const parser = new NmapXmlStreamParser({ onHost: (host) => seen.push(host.address) });
    const firstHostEnd = THREE_HOSTS.indexOf('</host>') + '</host>'.length;

    parser.write(THREE_HOSTS.slice(0, firstHostEnd));
    expect(seen).toEqual(['10.20.30.1']);
    expect(parser.finished).toBeNull();

    parser.write(THREE_HOSTS.slice(firstHostEnd));
    parser.end();
    expect(seen).toHaveLength(3);
    expect(parser.hostsSeen).toBe(3);
  });

  it('refuses further input after an error, repeating the first error', () => {
    const parser = new NmapXmlStreamParser();
    expect(() => parser.write('<nmaprun><a></b>')).toThrow(NmapXmlError);
    expect(() => parser.write('</nmaprun>')).toThrow(/line 1, column \d+/);
  });

  it('lets an exception from a handler through unchanged', () => {
    const parser = new NmapXmlStreamParser({
      onHost: () => {
        throw new Error('downstream full');
      },
    });
    expect(() => parser.write(THREE_HOSTS)).toThrow('downstream full');
  });

  it('gives the same events however the input is split (property)', () => {
    const whole = eventsOf([THREE_HOSTS]);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: THREE_HOSTS.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), THREE_HOSTS.length];
        const chunks = points.slice(1).map((end, i) => THREE_HOSTS.slice(points[i], end));
        expect(eventsOf(chunks)).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('reads back any hosts rendered in nmap layout (property)', async () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '&', '<', '>', '"', "'", '.', '-', 'é'), minLength: 1, maxLength: 12 });
    const port = fc.record(
      {
        protocol: fc.constantFrom('tcp' as const, 'udp' as const),
        port: fc.integer({ min: 0, max: 65535 }),
        state: fc.constantFrom(...PORT_STATES),
        reason: text,
        service: text,
        product: text,
        version: text,
      },
      { requiredKeys: ['protocol', 'port', 'state'] },
    );
    const host = fc.record({
      ip: fc.oneof(fc.ipV4(), fc.ipV6()),
      hostnames: fc.uniqueArray(fc.domain(), { maxLength: 2 }),
      state: fc.constantFrom('up' as const, 'down' as const, 'unknown' as const),
      ports: fc.array(port, { maxLength: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(host, { maxLength: 6 }), async (drafts) => {
        const hosts: HostObservation[] = drafts.map((d) => ({
          address: d.ip,
          addresses: [{ addr: d.ip, type: d.ip.includes(':') ? 'ipv6' : 'ipv4' }],
          hostnames: d.hostnames,
          state: d.state,
          reason: 'echo-reply',
          ports: d.ports,
        }));
        const parsed = await parseNmapXml(renderNmapXml(hosts));
        expect(parsed.hosts).toEqual(hosts);
        expect(parsed.run.hostsTotal).toBe(hosts.length);
      }),
      { numRuns: 150 },
    );
  });
});
