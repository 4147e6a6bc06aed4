/**
 * Item key patterns of planned-change rules.
 *
 * For ports: `[protocol/]ports[@bind]`, where protocol is `tcp`, `udp` or `*`, ports is one port,
 * a range `8000-8100` or `*`, and the optional bind address (self-scans key a socket as
 * `tcp/443@0.0.0.0`) is a glob. `tcp/443` matches `tcp/443` and `tcp/443@<any address>`; a bare
 * `443` means either protocol.
 *
 * For every other item type (config lines, firewall rules, registry values): a glob over the
 * whole key, `*` any run of characters, `?` one character, `\` escaping the next one.
 */
export type KeyPattern =
  | { readonly kind: 'port'; readonly source: string; readonly protocol: 'tcp' | 'udp' | '*'; readonly from: number; readonly to: number; readonly bind?: Glob }
  | { readonly kind: 'glob'; readonly source: string; readonly glob: Glob };

/** A compiled glob: literal characters, `?` (one character) and `*` (any run). */
type GlobToken = { readonly literal: string } | '?' | '*';
type Glob = readonly GlobToken[];

export class KeyPatternError extends Error {
  override readonly name = 'KeyPatternError';
}

export const MAX_PATTERN_LENGTH = 500;
const PORT_PATTERN = /^(?:(tcp|udp|\*)\/)?(\*|\d{1,5}(?:-\d{1,5})?)(?:@(.+))?$/i;
const LOOKS_LIKE_PORT = /^(?:[a-z*]+\/)?[\d*-]+(?:@.*)?$/i;

/**
 * Parses a pattern for keys of `itemType` (undefined: any type). Throws KeyPatternError naming
 * what is wrong. A pattern for ports (or for any type) that looks like a port spec must be a
 * valid one: `tcp/70000` or `tcp/9000-8000` is a mistake, not a glob that matches nothing.
 */
export function parseKeyPattern(source: string, itemType?: string): KeyPattern {
  if (!source.trim()) throw new KeyPatternError('the pattern is empty');
  if (source.length > MAX_PATTERN_LENGTH) throw new KeyPatternError(`the pattern is ${source.length} characters long; at most ${MAX_PATTERN_LENGTH}`);
  if (/[\u0000-\u001f\u007f]/.test(source)) throw new KeyPatternError('the pattern holds a control character');
  const forPorts = itemType === 'port';
  if (forPorts || (itemType === undefined && LOOKS_LIKE_PORT.test(source))) return parsePortPattern(source);
  return { kind: 'glob', source, glob: compileGlob(source) };
}

function parsePortPattern(source: string): KeyPattern {
  const m = PORT_PATTERN.exec(source.trim());
  if (!m) throw new KeyPatternError(`"${source}" is not a port pattern (expected e.g. tcp/443, udp/53, tcp/8000-8100, */22 or tcp/443@0.0.0.0)`);
  const protocol = (m[1]?.toLowerCase() ?? '*') as 'tcp' | 'udp' | '*';
  let from = 1;
  let to = 65_535;
  if (m[2] !== '*') {
    const [a, b] = m[2].split('-').map(Number);
    from = a;
    to = b ?? a;
    for (const port of [from, to]) if (port < 1 || port > 65_535) throw new KeyPatternError(`port ${port} in "${source}" is out of range (1-65535)`);
    if (from > to) throw new KeyPatternError(`the range ${m[2]} in "${source}" ends before it starts`);
  }
  return { kind: 'port', source, protocol, from, to, ...(m[3] ? { bind: compileGlob(m[3]) } : {}) };
}

export function matchesKey(pattern: KeyPattern, key: string): boolean {
  if (pattern.kind === 'glob') return globMatches(pattern.glob, key);
  const m = /^(tcp|udp|sctp)\/(\d+)(?:@(.*))?$/.exec(key);
  if (!m) return false;
  if (pattern.protocol !== '*' && pattern.protocol !== m[1]) return false;
  const port = Number(m[2]);
  if (port < pattern.from || port > pattern.to) return false;
  return !pattern.bind || (m[3] !== undefined && globMatches(pattern.bind, m[3]));
}

function compileGlob(glob: string): Glob {
  const tokens: GlobToken[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) tokens.push({ literal: glob[++i] });
    else if (c === '*') {
      if (tokens[tokens.length - 1] !== '*') tokens.push('*');
    } else if (c === '?') tokens.push('?');
    else tokens.push({ literal: c });
  }
  return tokens;
}

/**
 * Wildcard matching without regular expressions: going back only to the last `*` bounds the
 * work by key length × pattern length, so no pattern can make a match take exponential time.
 */
export function globMatches(glob: Glob, text: string): boolean {
  let t = 0;
  let g = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    const token = glob[g];
    if (token === '*') {
      star = g++;
      resume = t;
    } else if (token !== undefined && (token === '?' || token.literal === text[t])) {
      g++;
      t++;
    } else if (star >= 0) {
      g = star + 1;
      t = ++resume;
    } else return false;
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}
