import type { XmlAttributes } from './nmap-xml.builder';

/**
 * nmap's element vocabulary, as the readers need it. NMAP_ATTRIBUTES_READ lists, by element,
 * the attributes NmapXmlBuilder reads: a tokenizer may hand open() only these (and nothing for
 * any other element) and skip building the rest. Keep it in step with the builder; the fast
 * reader's parity tests against saxes catch a name missing here.
 */
export const NMAP_ATTRIBUTES_READ: ReadonlyMap<string, readonly string[]> = new Map([
  ['nmaprun', ['scanner', 'args', 'version', 'xmloutputversion', 'start']],
  ['status', ['state', 'reason']],
  ['address', ['addr', 'addrtype']],
  ['hostname', ['name']],
  ['port', ['protocol', 'portid']],
  ['state', ['state', 'reason']],
  ['service', ['name', 'product', 'version']],
  ['taskprogress', ['percent', 'task', 'remaining']],
  ['finished', ['exit', 'errormsg', 'summary', 'time', 'elapsed']],
  ['hosts', ['up', 'down', 'total']],
]);

/** Elements nmap 7.x writes besides those above (nmap.dtd), recognized without a lookup. */
const OTHER_ELEMENTS = [
  'scaninfo', 'verbose', 'debugging', 'target', 'taskbegin', 'taskend', 'hosthint', 'host', 'hostnames',
  'ports', 'extraports', 'extrareasons', 'cpe', 'script', 'table', 'elem', 'os', 'portused', 'osmatch',
  'osclass', 'osfingerprint', 'uptime', 'distance', 'tcpsequence', 'ipidsequence', 'tcptssequence',
  'times', 'trace', 'hop', 'smurf', 'owner', 'hostscript', 'prescript', 'postscript', 'output', 'runstats',
];

/**
 * An element name met in the input: one shared string, the attributes to read from it, and a
 * slot for each of their values, reused from one tag to the next (the builder does not keep it).
 */
export class ElementEntry implements XmlAttributes {
  readonly values: (string | undefined)[];

  constructor(
    readonly name: string,
    readonly read: readonly string[] = [],
  ) {
    this.values = read.map(() => undefined);
  }

  get(name: string): string | undefined {
    for (let k = 0; k < this.read.length; k += 1) {
      if (this.read[k] === name) return this.values[k];
    }
    return undefined;
  }

  /** Empties the value slots before a tag's attributes are read into them. */
  clear(): void {
    for (let k = 0; k < this.values.length; k += 1) this.values[k] = undefined;
  }

  /** The slot of the attribute named s[start, end), or -1 when it is not one to read. */
  slotOf(s: string, start: number, end: number): number {
    for (let k = 0; k < this.read.length; k += 1) {
      if (occursAt(this.read[k], s, start, end)) return k;
    }
    return -1;
  }
}

/**
 * Finds nmap's element names in the input without cutting a new string for each tag: the name
 * comes back as one shared string, so the builder's comparisons are pointer checks and no hash
 * is computed per tag.
 */
export class ElementNames {
  /** Entries by the first character of their name, longest name first. */
  private readonly byFirst: ElementEntry[][] = Array.from({ length: 128 }, () => []);

  constructor() {
    const names = [...NMAP_ATTRIBUTES_READ.keys(), ...OTHER_ELEMENTS].sort((a, b) => b.length - a.length);
    for (const name of names) this.byFirst[name.charCodeAt(0) & 127].push(new ElementEntry(name, NMAP_ATTRIBUTES_READ.get(name)));
  }

  /** The entry for the name s[start, end), or undefined when nmap never writes that name. */
  find(s: string, start: number, end: number): ElementEntry | undefined {
    const bucket = this.byFirst[s.charCodeAt(start) & 127];
    for (let k = 0; k < bucket.length; k += 1) {
      if (occursAt(bucket[k].name, s, start, end)) return bucket[k];
    }
    return undefined;
  }

  /**
   * The entry whose name starts at s[start] and is followed by a character that cannot be part
   * of a name (`isNameChar` tells which), found without scanning the name first.
   */
  match(s: string, start: number, isNameChar: (code: number) => boolean): ElementEntry | undefined {
    const bucket = this.byFirst[s.charCodeAt(start) & 127];
    for (let k = 0; k < bucket.length; k += 1) {
      const name = bucket[k].name;
      if (occursAt(name, s, start, start + name.length) && !isNameChar(s.charCodeAt(start + name.length))) return bucket[k];
    }
    return undefined;
  }
}

/**
 * Whether s[start, end) is `name`. Compared in a loop rather than with startsWith: names are
 * short, and a call into the runtime per attribute costs more than the loop.
 */
export function occursAt(name: string, s: string, start: number, end: number): boolean {
  if (end - start !== name.length) return false;
  for (let k = 0; k < name.length; k += 1) {
    if (name.charCodeAt(k) !== s.charCodeAt(start + k)) return false;
  }
  return true;
}
