import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { PORT_STATES } from './scan-outcome';
import type { HostObservation, HostState, PortObservation, PortState, ScanProgress } from './scan-outcome';

/** What <nmaprun> says at the start of a run. Empty strings when nmap failed before it began. */
export interface NmapRunInfo {
  scanner: string;
  /** nmap's own record of its command line (one string, as nmap quotes it). */
  args: string;
  version: string;
  xmlOutputVersion?: string;
  startedAt?: Date;
}

/** <runstats>: how the run ended and the host counts. */
export interface NmapRunSummary {
  exit: 'success' | 'error';
  errorMessage?: string;
  finishedAt?: Date;
  elapsedSeconds?: number;
  summary?: string;
  hostsUp: number;
  hostsDown: number;
  hostsTotal: number;
}

export type NmapRun = NmapRunInfo & NmapRunSummary;

export interface NmapXmlHandlers {
  onRunInfo?(info: NmapRunInfo): void;
  /** Called as each </host> closes; the parser keeps no reference to the host afterwards. */
  onHost?(host: HostObservation): void;
  onProgress?(progress: ScanProgress): void;
  onFinished?(summary: NmapRunSummary): void;
}

/** Malformed or truncated nmap XML; `line` and `column` point at where parsing stopped. */
export class NmapXmlError extends Error {
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`Malformed nmap XML at line ${line}, column ${column}: ${detail}`);
    this.name = 'NmapXmlError';
  }
}

type Attributes = Record<string, string>;

const HOST_STATES: readonly HostState[] = ['up', 'down', 'unknown'];

interface PortDraft {
  observation: Partial<PortObservation> & Pick<PortObservation, 'protocol' | 'port'>;
}

/**
 * Streaming reader for `nmap -oX -`. Feed stdout chunk by chunk with write(); hosts, progress and
 * the run summary arrive through callbacks as soon as their elements close, so memory holds one
 * host at a time however large the document. Call end() once the stream is over: it throws
 * NmapXmlError for a truncated document.
 */
export class NmapXmlStreamParser {
  private readonly sax = new SaxesParser<{ position: true; xmlns: false }>({ position: true, xmlns: false });
  private readonly decoder = new StringDecoder('utf8');
  /** Names of the open elements; depth is bounded by nmap's schema, not by the document size. */
  private readonly stack: string[] = [];
  private host: HostObservation | null = null;
  private port: PortDraft | null = null;
  private summary: NmapRunSummary | null = null;
  private hostCount = 0;
  private failure: Error | null = null;
  private ended = false;

  constructor(private readonly handlers: NmapXmlHandlers = {}) {
    this.sax.on('error', (error) => {
      throw new NmapXmlError(error.message.replace(/^\d+:\d+: /, ''), this.sax.line, this.sax.column);
    });
    this.sax.on('opentag', (tag) => this.open(tag));
    this.sax.on('closetag', (tag) => this.close(tag.name));
  }

  /** Hosts emitted so far. */
  get hostsSeen(): number {
    return this.hostCount;
  }

  /** The <runstats> summary, once it has been read. */
  get finished(): NmapRunSummary | null {
    return this.summary;
  }

  write(chunk: string | Buffer): void {
    this.guard(() => this.sax.write(typeof chunk === 'string' ? chunk : this.decoder.write(chunk)));
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.guard(() => {
      const rest = this.decoder.end();
      if (rest.length > 0) this.sax.write(rest);
      try {
        this.sax.close();
      } catch (error) {
        if (!(error instanceof NmapXmlError)) throw error;
        throw new NmapXmlError(`the document is truncated (${error.detail})`, error.line, error.column);
      }
      if (this.summary === null) {
        throw new NmapXmlError('the document has no <runstats>; nmap did not finish', this.sax.line, this.sax.column);
      }
    });
  }

  private guard(action: () => void): void {
    if (this.failure !== null) throw this.failure;
    try {
      action();
    } catch (error) {
      this.failure = error as Error;
      throw error;
    }
  }

  private fail(detail: string): never {
    throw new NmapXmlError(detail, this.sax.line, this.sax.column);
  }

  private open(tag: SaxesTagPlain): void {
    const parent = this.stack.at(-1);
    this.stack.push(tag.name);
    const attrs = tag.attributes as Attributes;
    switch (tag.name) {
      case 'nmaprun':
        if (parent === undefined) this.handlers.onRunInfo?.(readRunInfo(attrs));
        return;
      case 'host':
        if (parent === 'nmaprun') this.host = { address: '', addresses: [], hostnames: [], state: 'unknown', ports: [] };
        return;
      case 'taskprogress':
        if (parent === 'nmaprun') this.handlers.onProgress?.(this.readProgress(attrs));
        return;
      case 'finished':
        if (parent === 'runstats') this.readFinished(attrs);
        return;
      case 'hosts':
        if (parent === 'runstats') this.readHostCounts(attrs);
        return;
    }
    if (this.host !== null) this.openInHost(tag.name, parent, attrs);
  }

  private openInHost(name: string, parent: string | undefined, attrs: Attributes): void {
    const host = this.host as HostObservation;
    if (name === 'status' && parent === 'host') {
      const state = attrs['state'] as HostState;
      host.state = HOST_STATES.includes(state) ? state : 'unknown';
      if (attrs['reason']) host.reason = attrs['reason'];
    } else if (name === 'address' && parent === 'host') {
      host.addresses.push({ addr: attrs['addr'] ?? '', type: attrs['addrtype'] ?? 'ipv4' });
    } else if (name === 'hostname' && parent === 'hostnames' && attrs['name']) {
      // nmap lists a name once per source (user-given, PTR); keep each name once.
      if (!host.hostnames.includes(attrs['name'])) host.hostnames.push(attrs['name']);
    } else if (name === 'port' && parent === 'ports') {
      const protocol = attrs['protocol'];
      // sctp and ip-protocol scans are never requested by Portolan: such ports are skipped.
      this.port =
        protocol === 'tcp' || protocol === 'udp'
          ? { observation: { protocol, port: this.int(attrs, 'portid') } }
          : null;
    } else if (name === 'state' && parent === 'port' && this.port !== null) {
      const state = attrs['state'] as PortState;
      if (!PORT_STATES.includes(state)) this.fail(`unknown port state "${attrs['state']}"`);
      this.port.observation.state = state;
      if (attrs['reason']) this.port.observation.reason = attrs['reason'];
    } else if (name === 'service' && parent === 'port' && this.port !== null) {
      const observation = this.port.observation;
      if (attrs['name']) observation.service = attrs['name'];
      if (attrs['product']) observation.product = attrs['product'];
      if (attrs['version']) observation.version = attrs['version'];
    }
  }

  private close(name: string): void {
    this.stack.pop();
    if (name === 'port' && this.port !== null) {
      const { observation } = this.port;
      this.port = null;
      if (observation.state === undefined) this.fail(`port ${observation.port}/${observation.protocol} has no <state>`);
      this.host?.ports.push(observation as PortObservation);
    } else if (name === 'host' && this.host !== null && this.stack.at(-1) === 'nmaprun') {
      const host = this.host;
      this.host = null;
      const ip = host.addresses.find((a) => a.type === 'ipv4' || a.type === 'ipv6') ?? host.addresses[0];
      if (ip === undefined) this.fail('<host> has no <address>');
      host.address = ip.addr;
      this.hostCount += 1;
      this.handlers.onHost?.(host);
    } else if (name === 'runstats' && this.summary !== null) {
      this.handlers.onFinished?.(this.summary);
    }
  }

  private readProgress(attrs: Attributes): ScanProgress {
    const progress: ScanProgress = {
      percent: this.num(attrs, 'percent'),
      task: attrs['task'] ?? '',
      hostsDone: this.hostCount,
    };
    if (attrs['remaining'] !== undefined) progress.remainingSeconds = this.int(attrs, 'remaining');
    return progress;
  }

  private readFinished(attrs: Attributes): void {
    const summary = this.ensureSummary();
    summary.exit = attrs['exit'] === 'error' ? 'error' : 'success';
    if (attrs['errormsg']) summary.errorMessage = attrs['errormsg'];
    if (attrs['summary']) summary.summary = attrs['summary'];
    if (attrs['time'] !== undefined) summary.finishedAt = new Date(this.int(attrs, 'time') * 1000);
    if (attrs['elapsed'] !== undefined) summary.elapsedSeconds = this.num(attrs, 'elapsed');
  }

  private readHostCounts(attrs: Attributes): void {
    const summary = this.ensureSummary();
    summary.hostsUp = this.int(attrs, 'up');
    summary.hostsDown = this.int(attrs, 'down');
    summary.hostsTotal = this.int(attrs, 'total');
  }

  private ensureSummary(): NmapRunSummary {
    this.summary ??= { exit: 'success', hostsUp: 0, hostsDown: 0, hostsTotal: 0 };
    return this.summary;
  }

  private num(attrs: Attributes, name: string): number {
    const value = Number(attrs[name]);
    if (attrs[name] === undefined || attrs[name] === '' || !Number.isFinite(value)) {
      this.fail(`attribute ${name}="${attrs[name] ?? ''}" is not a number`);
    }
    return value;
  }

  private int(attrs: Attributes, name: string): number {
    const value = this.num(attrs, name);
    if (!Number.isInteger(value)) this.fail(`attribute ${name}="${attrs[name]}" is not an integer`);
    return value;
  }
}

function readRunInfo(attrs: Attributes): NmapRunInfo {
  const info: NmapRunInfo = { scanner: attrs['scanner'] ?? '', args: attrs['args'] ?? '', version: attrs['version'] ?? '' };
  if (attrs['xmloutputversion']) info.xmlOutputVersion = attrs['xmloutputversion'];
  const start = Number(attrs['start']);
  if (attrs['start'] && Number.isInteger(start)) info.startedAt = new Date(start * 1000);
  return info;
}

export interface ParsedNmapXml {
  run: NmapRun;
  hosts: HostObservation[];
}

/** Whole-document convenience over NmapXmlStreamParser (keeps every host in memory). */
export async function parseNmapXml(input: string | Readable): Promise<ParsedNmapXml> {
  const hosts: HostObservation[] = [];
  let info: NmapRunInfo = { scanner: '', args: '', version: '' };
  const parser = new NmapXmlStreamParser({
    onRunInfo: (runInfo) => (info = runInfo),
    onHost: (host) => hosts.push(host),
  });
  if (typeof input === 'string') {
    parser.write(input);
  } else {
    for await (const chunk of input) parser.write(chunk as string | Buffer);
  }
  parser.end();
  return { run: { ...info, ...(parser.finished as NmapRunSummary) }, hosts };
}
