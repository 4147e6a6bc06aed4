import fc from 'fast-check';
import { NmapXmlFastReader } from './nmap-xml.fast-reader';
import { NmapXmlStreamParser } from './nmap-xml.parser';
import { NmapXmlError } from './nmap-xml.types';
import type { NmapXmlHandlers, NmapXmlReader } from './nmap-xml.types';
import { PORT_STATES } from './scan-outcome';
import { FATAL_ERROR, IPV6_UDP, THREE_HOSTS, ZERO_HOSTS } from './test/nmap-xml.samples';
import { renderVariant } from './test/nmap-xml.variants';
import type { VariantHost } from './test/nmap-xml.variants';

type Reader = (handlers: NmapXmlHandlers) => NmapXmlReader;
const fast: Reader = (handlers) => new NmapXmlFastReader(handlers);
const saxes: Reader = (handlers) => new NmapXmlStreamParser(handlers);

interface Outcome {
  events: unknown[];
  hostsSeen: number;
  error?: string;
}

/** Everything a reader reports for the chunks, or the error it stops with. */
function read(reader: Reader, chunks: (string | Buffer)[]): Outcome {
  const events: unknown[] = [];
  const parser = reader({
    onRunInfo: (info) => events.push(['info', info]),
    onHost: (host) => events.push(['host', host]),
    onProgress: (progress) => events.push(['progress', progress]),
    onFinished: (summary) => events.push(['finished', summary]),
  });
  try {
    chunks.forEach((chunk) => parser.write(chunk));
    parser.end();
    return { events, hostsSeen: parser.hostsSeen };
  } catch (error) {
    if (!(error instanceof NmapXmlError)) throw error;
    return { events, hostsSeen: parser.hostsSeen, error: error.message };
  }
}

/** `whole` cut at the given points (sorted, deduplicated, inside the text). */
function cut<T extends string | Buffer>(whole: T, points: number[]): T[] {
  const at = [0, ...[...new Set(points)].filter((p) => p > 0 && p < whole.length).sort((a, b) => a - b), whole.length];
  return at.slice(1).map((end, i) => whole.slice(at[i], end) as T);
}

const text = fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '&', '<', '>', '"', "'", '.', '-', 'é', '→', '😀', '\t'), minLength: 1, maxLength: 12 });
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
const hostArb: fc.Arbitrary<VariantHost> = fc
  .record({
    ip: fc.oneof(fc.ipV4(), fc.ipV6()),
    mac: fc.option(fc.constant('52:54:00:12:34:56'), { nil: undefined }),
    hostnames: fc.uniqueArray(fc.domain(), { maxLength: 2 }),
    state: fc.constantFrom('up' as const, 'down' as const, 'unknown' as const),
    reason: fc.option(text, { nil: undefined }),
    ports: fc.array(port, { maxLength: 5 }),
  })
  .map((d) => ({
    address: d.ip,
    addresses: [{ addr: d.ip, type: d.ip.includes(':') ? 'ipv6' : 'ipv4' }, ...(d.mac ? [{ addr: d.mac, type: 'mac' }] : [])],
    mac: d.mac,
    hostnames: d.hostnames,
    state: d.state,
    reason: d.reason,
    ports: d.ports,
  }));
const documentArb = fc.record({ hosts: fc.array(hostArb, { maxLength: 5 }), seed: fc.integer() }).map(({ hosts, seed }) => renderVariant(hosts, seed));

describe('NmapXmlFastReader against the saxes reader', () => {
  it.each([
    ['THREE_HOSTS', THREE_HOSTS],
    ['IPV6_UDP', IPV6_UDP],
    ['FATAL_ERROR', FATAL_ERROR],
    ['ZERO_HOSTS', ZERO_HOSTS],
  ])('reports the same events for the %s sample', (_name, sample) => {
    const expected = read(saxes, [sample]);
    expect(expected.error).toBeUndefined();
    expect(read(fast, [sample])).toEqual(expected);
  });

  it('reports the same events for varied renderings, however the bytes are split (property)', () => {
    fc.assert(
      fc.property(documentArb, fc.array(fc.nat(), { maxLength: 30 }), (doc, points) => {
        const expected = read(saxes, [doc]);
        expect(expected.error).toBeUndefined();
        const bytes = Buffer.from(doc, 'utf8');
        expect(read(fast, [doc])).toEqual(expected);
        expect(read(fast, cut(bytes, points.map((p) => p % (bytes.length + 1))))).toEqual(expected);
        expect(read(fast, cut(doc, points.map((p) => p % (doc.length + 1))))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts and rejects the same damaged documents, and agrees on what it read (property)', () => {
    const damage = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('delete', 'insert', 'truncate'),
      insert: fc.constantFrom('<', '>', '"', "'", '=', '/', '&', ';', '!', '?', '-', ' ', 'a', '\u0001'),
    });
    fc.assert(
      fc.property(documentArb, damage, (doc, { at, kind, insert }) => {
        // Damage whole characters: saxes reads half of a surrogate pair inconsistently (it takes
        // the next character as the other half), where the fast reader refuses it.
        const low = (k: number): boolean => doc.charCodeAt(k) >= 0xdc00 && doc.charCodeAt(k) <= 0xdfff;
        const i = low(at % doc.length) ? (at % doc.length) - 1 : at % doc.length;
        const next = low(i + 1) ? i + 2 : i + 1;
        const damaged =
          kind === 'truncate' ? doc.slice(0, i) : kind === 'delete' ? doc.slice(0, i) + doc.slice(next) : doc.slice(0, i) + insert + doc.slice(i);
        const expected = read(saxes, [damaged]);
        const actual = read(fast, [damaged]);
        expect(actual.error === undefined).toBe(expected.error === undefined);
        if (expected.error === undefined) expect(actual).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('NmapXmlFastReader', () => {
  const wrap = (body: string): string => `<nmaprun>${body}<runstats><finished time="1" exit="success"/><hosts up="0" down="0" total="0"/></runstats></nmaprun>`;
  const failure = (doc: string | (string | Buffer)[]): string => read(fast, Array.isArray(doc) ? doc : [doc]).error ?? 'no error';

  it('decodes entity and character references and normalizes whitespace in attribute values', () => {
    const doc = wrap(
      `<host><status state="up"/><address addr="10.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open"/>` +
        `<service name='a&amp;b' product="x&#x9;&#10;y" version="one\ttwo\r\nthree &lt;&gt;&quot;&apos;&#128512;"/></port></ports></host>`,
    );
    const [host] = read(fast, [doc]).events.filter((e) => (e as unknown[])[0] === 'host').map((e) => (e as [string, { ports: unknown[] }])[1]);
    expect(host.ports).toEqual([{ protocol: 'tcp', port: 22, state: 'open', service: 'a&b', product: 'x\t\ny', version: 'one two three <>"\'😀' }]);
  });

  it.each([
    ['an undefined entity', wrap('<x a="&nbsp;"/>'), /line 1, column 21: undefined entity &nbsp;/],
    ['a bare ampersand', wrap('<x>a & b</x>'), /does not start an entity or character reference/],
    ['a character reference to a forbidden character', wrap('<x a="&#1;"/>'), /malformed character reference &#1;/],
    ['"<" in an attribute value', wrap('<x a="<"/>'), /"<" inside the tag <x>/],
    ['an unquoted attribute value', wrap('<x a=1/>'), /unquoted attribute value in <x>/],
    ['attributes without whitespace between', wrap('<x a="1"b="2"/>'), /no whitespace between attributes of <x>/],
    ['a duplicate attribute it reads', wrap('<hosts up="1" up="2"/>'), /duplicate attribute up in <hosts>/],
    ['a second root element', `${wrap('')}<nmaprun/>`, /a second root element <nmaprun>/],
    ['text outside the root', `${wrap('')}junk`, /text data outside of root node/],
    ['"--" inside a comment', wrap('<!-- a -- b -->'), /"--" inside a comment/],
    ['CDATA outside the root', `<![CDATA[x]]>${wrap('')}`, /CDATA outside of root node/],
    ['a DOCTYPE after the root', `${wrap('')}<!DOCTYPE nmaprun>`, /DOCTYPE after the root element/],
    ['an XML declaration after the start', ` <?xml version="1.0"?>${wrap('')}`, /XML declaration must be at the start/],
    ['a malformed XML declaration', `<?xml version="2"?>${wrap('')}`, /malformed XML declaration/],
    ['a control character', wrap('<x>\u0001</x>'), /disallowed character/],
    ['half of a surrogate pair', wrap('<x a="\ud83d"/>'), /disallowed character/],
    ['a close tag that matches nothing', wrap('</x>'), /unexpected close tag <\/x>: expected <\/nmaprun>/],
    ['a comment cut short', '<nmaprun><!-- never closed', /truncated \(unclosed tag: nmaprun\)/],
    ['a comment cut short before the root', '<!-- never closed', /truncated \(unfinished comment\)/],
    ['empty input', '', /truncated \(it has no root element\)/],
  ])('refuses %s', (_what, doc, message) => {
    expect(failure(doc)).toMatch(message);
  });

  it('points at the line and column of a fault, across chunks and CRLF line ends', () => {
    const doc = '<nmaprun>\r\n<a>\r\n  <b x="1"></c>\r\n</a></nmaprun>';
    const message = /^Malformed nmap XML at line 3, column 15: unexpected close tag <\/c>: expected <\/b>$/;
    expect(failure(doc)).toMatch(message);
    expect(failure([...Buffer.from(doc)].map((byte) => Buffer.from([byte])))).toMatch(message);
  });

  it('skips a byte order mark and reads a document split inside a multi-byte character', () => {
    const doc = Buffer.from(`\ufeff${THREE_HOSTS.replace('nginx &amp;', 'nginx – ü &amp;')}`, 'utf8');
    const at = doc.indexOf('ü') + 1;
    const outcome = read(fast, [doc.subarray(0, at), doc.subarray(at)]);
    expect(outcome.error).toBeUndefined();
    expect(JSON.stringify(outcome.events)).toContain('nginx – ü & \\"friends\\"');
  });

  it('keeps no reference to a chunk, so the caller may reuse its buffer', () => {
    const bytes = Buffer.from(THREE_HOSTS, 'utf8');
    const chunk = Buffer.alloc(64);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 64) chunks.push(Buffer.from(bytes.subarray(at, at + 64)));
    const events: unknown[] = [];
    const reader = new NmapXmlFastReader({ onHost: (host) => events.push(host), onFinished: (summary) => events.push(summary) });
    for (const part of chunks) {
      part.copy(chunk);
      reader.write(chunk.subarray(0, part.length));
      chunk.fill(0x20);
    }
    reader.end();
    expect(events).toEqual(read(saxes, [THREE_HOSTS]).events.filter((e) => ['host', 'finished'].includes((e as string[])[0])).map((e) => (e as unknown[])[1]));
  });
});
