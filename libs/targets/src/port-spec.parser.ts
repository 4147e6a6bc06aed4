import { DomainError } from '@portolan/contracts/errors';
import { mergeIntervals, subtractIntervals } from './intervals';
import { MAX_PORT, MIN_PORT, type PortRange, type PortRule, type PortSet } from './port-spec.model';

interface PortToken {
  text: string;
  position: number;
}

/** A problem with one token, before it is given the context of a list or a rule. */
class PortListProblem {
  constructor(
    readonly message: string,
    readonly token: string,
    readonly position: number,
  ) {}
}

const isSeparator = (c: string): boolean => c === ',' || /\s/.test(c);
const isBlank = (c: string): boolean => c !== ',' && /\s/.test(c);

/**
 * Tokens separated by commas and/or whitespace; whitespace around a `-` is allowed, so
 * `1 - 1024` is one token.
 */
function tokenize(spec: string): PortToken[] {
  const tokens: PortToken[] = [];
  let i = 0;
  while (i < spec.length) {
    if (isSeparator(spec[i])) {
      i++;
      continue;
    }
    const position = i + 1;
    let text = '';
    const readRun = (): void => {
      while (i < spec.length && !isSeparator(spec[i])) text += spec[i++];
    };
    readRun();
    for (;;) {
      let j = i;
      while (j < spec.length && isBlank(spec[j])) j++;
      if (j === i || j >= spec.length || isSeparator(spec[j])) break;
      const joins = text.endsWith('-') || (spec[j] === '-' && !text.includes('-'));
      if (!joins) break;
      i = j;
      readRun();
    }
    tokens.push({ text, position });
  }
  return tokens;
}

function parsePort(text: string, fallback: number, token: PortToken): number {
  if (text === '') return fallback;
  const value = Number(text);
  if (value < MIN_PORT || value > MAX_PORT) {
    throw new PortListProblem(`"${token.text}" at position ${token.position} is out of range 1-65535`, token.text, token.position);
  }
  return value;
}

/** `22`, `1-1024`, and open ends as nmap reads them: `-1024` is 1-1024, `60000-` is 60000-65535. */
function parseToken(token: PortToken): PortRange {
  const match = /^([0-9]*)(-([0-9]*))?$/.exec(token.text);
  if (match === null || (match[2] === undefined && match[1] === '')) {
    throw new PortListProblem(
      `"${token.text}" at position ${token.position} is not a port or port range (e.g. 22 or 1-1024)`,
      token.text,
      token.position,
    );
  }
  const from = parsePort(match[1], MIN_PORT, token);
  const to = match[2] === undefined ? from : parsePort(match[3], MAX_PORT, token);
  if (to < from) {
    throw new PortListProblem(
      `"${token.text}" at position ${token.position} is a reversed range (${from} > ${to})`,
      token.text,
      token.position,
    );
  }
  return { from, to };
}

function parseRanges(spec: string): PortRange[] {
  const tokens = tokenize(spec);
  if (tokens.length === 0) throw new PortListProblem('port list is empty', '', 1);
  return mergeIntervals(tokens.map(parseToken));
}

/**
 * Parse a port list such as `22,80,8000-8100` or `22, 80 443` into sorted, merged ranges.
 * Throws DomainError('invalid_port_spec') naming the token and its 1-based position.
 */
export function parsePortList(spec: string): PortRange[] {
  try {
    return parseRanges(spec);
  } catch (error) {
    if (!(error instanceof PortListProblem)) throw error;
    throw new DomainError('invalid_port_spec', `invalid port list: ${error.message}`, {
      token: error.token,
      position: error.position,
    });
  }
}

const PROTOCOLS: Record<PortRule['protocol'], ReadonlyArray<keyof PortSet>> = {
  tcp: ['tcp'],
  udp: ['udp'],
  both: ['tcp', 'udp'],
};

/**
 * Per protocol, the union of the include rules minus the union of the exclude rules. Errors name
 * the rule by its 1-based number in the message (`port rule 2: ...`) and by its 0-based index in
 * details.rule. A result with no ports at all is an error.
 */
export function buildPortSet(rules: readonly PortRule[]): PortSet {
  const include: PortSet = { tcp: [], udp: [] };
  const exclude: PortSet = { tcp: [], udp: [] };
  rules.forEach((rule, index) => {
    const protocols = Object.hasOwn(PROTOCOLS, rule.protocol) ? PROTOCOLS[rule.protocol] : undefined;
    if (protocols === undefined) {
      throw new DomainError('invalid_port_spec', `port rule ${index + 1}: protocol "${String(rule.protocol)}" must be tcp, udp or both`, {
        token: String(rule.protocol),
        rule: index,
      });
    }
    let ranges: PortRange[];
    try {
      ranges = parseRanges(typeof rule.range === 'string' ? rule.range : '');
    } catch (error) {
      if (!(error instanceof PortListProblem)) throw error;
      throw new DomainError('invalid_port_spec', `port rule ${index + 1}: ${error.message}`, {
        token: error.token,
        position: error.position,
        rule: index,
      });
    }
    for (const protocol of protocols) (rule.exclude === true ? exclude : include)[protocol].push(...ranges);
  });
  const result: PortSet = {
    tcp: subtractIntervals(mergeIntervals(include.tcp), mergeIntervals(exclude.tcp)),
    udp: subtractIntervals(mergeIntervals(include.udp), mergeIntervals(exclude.udp)),
  };
  if (result.tcp.length === 0 && result.udp.length === 0) {
    throw new DomainError('invalid_port_spec', 'port rules select no ports', {});
  }
  return result;
}
