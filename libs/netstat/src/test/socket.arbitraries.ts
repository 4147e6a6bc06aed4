/**
 * fast-check arbitraries for socket addresses as the tools print them, each with the bind
 * address the parsers must produce, and an ss line renderer for round-trip properties.
 */
import fc from 'fast-check';
import type { ListeningSocket, SocketProtocol } from '../listening-socket.model';

/** Canonical IPv6 text by an independent route: the WHATWG URL host serializer (RFC 5952). */
export function canonicalIpv6(text: string): string {
  const host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped === null) return host;
  const [high, low] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

export const portArbitrary = fc.integer({ min: 1, max: 65535 });
export const zoneArbitrary = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/), fc.integer({ min: 1, max: 64 }).map(String));
const spaces = (min: number) => fc.integer({ min, max: 6 }).map((n) => ' '.repeat(n));

/** A local address column without the port: `text` as the tool shows it, `expected` as parsed. */
export interface PrintedAddress {
  text: string;
  expected: string;
}

const ipv4Printed = fc.oneof(
  fc.ipV4().map((a) => ({ text: a, expected: a })),
  fc.tuple(fc.ipV4(), zoneArbitrary).map(([a, zone]) => ({ text: `${a}%${zone}`, expected: a })),
  fc.ipV4().map((a) => ({ text: `[::ffff:${a}]`, expected: a })),
);

const ipv6Printed = fc.oneof(
  fc.ipV6().map((a) => ({ text: `[${a}]`, expected: canonicalIpv6(a) })),
  fc.tuple(fc.ipV6(), zoneArbitrary).map(([a, zone]) => ({ text: `[${a}]%${zone}`, expected: canonicalIpv6(a) })),
  fc.tuple(fc.ipV6(), zoneArbitrary).map(([a, zone]) => ({ text: `[${a}%${zone}]`, expected: canonicalIpv6(a) })),
  fc.ipV6().map((a) => ({ text: `[${a.toUpperCase()}]`, expected: canonicalIpv6(a) })),
);

/** Addresses in the forms ss prints (`*` is its dual-stack wildcard, read as 0.0.0.0). */
export const ssAddressArbitrary: fc.Arbitrary<PrintedAddress> = fc.oneof(
  ipv4Printed,
  ipv6Printed,
  fc.constant({ text: '*', expected: '0.0.0.0' }),
);

/** Process names as comm holds them: up to 15 printable characters (no double quote). */
const processNameArbitrary = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 15,
});

interface SsOwner {
  name: string;
  pid: number;
  fd: number;
}

/** One generated ss line and the socket it describes. */
export interface SsCase {
  line: string;
  socket: ListeningSocket;
}

function usersColumn(owners: readonly SsOwner[]): string {
  return owners.length === 0 ? '' : `users:(${owners.map((o) => `("${o.name}",pid=${o.pid},fd=${o.fd})`).join(',')})`;
}

/** The owner the parser reports: the lowest pid. */
function expectedOwner(owners: readonly SsOwner[]): Pick<ListeningSocket, 'process' | 'pid'> {
  if (owners.length === 0) return {};
  const lowest = owners.reduce((a, b) => (b.pid < a.pid ? b : a));
  return { process: lowest.name, pid: lowest.pid };
}

/** A listening socket line in `ss -tulpnH` form, with arbitrary column padding. */
export const ssCaseArbitrary: fc.Arbitrary<SsCase> = fc
  .record({
    protocol: fc.constantFrom<SocketProtocol>('tcp', 'udp'),
    local: ssAddressArbitrary,
    port: portArbitrary,
    owners: fc.uniqueArray(
      fc.record({ name: processNameArbitrary, pid: fc.integer({ min: 1, max: 4194304 }), fd: fc.nat(1024) }),
      { maxLength: 4, selector: (o) => o.pid },
    ),
    queues: fc.tuple(fc.nat(4096), fc.nat(4096)),
    gaps: fc.array(spaces(1), { minLength: 6, maxLength: 6 }),
    edges: fc.tuple(spaces(0), spaces(0)),
  })
  .map(({ protocol, local, port, owners, queues, gaps, edges }) => {
    const state = protocol === 'tcp' ? 'LISTEN' : 'UNCONN';
    const peer = local.text.startsWith('[') ? '[::]:*' : '0.0.0.0:*';
    const columns = [protocol, state, String(queues[0]), String(queues[1]), `${local.text}:${port}`, peer, usersColumn(owners)];
    const line = edges[0] + columns.map((column, i) => (i === 0 ? column : gaps[i - 1] + column)).join('') + edges[1];
    return { line, socket: { protocol, bindAddress: local.expected, port, ...expectedOwner(owners) } };
  });
