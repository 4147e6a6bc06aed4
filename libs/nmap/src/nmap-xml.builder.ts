import { PORT_STATES } from './scan-outcome';
import type { HostObservation, HostState, PortObservation, PortState, ScanProgress } from './scan-outcome';
import { NmapXmlError } from './nmap-xml.types';
import type { NmapRunInfo, NmapRunSummary, NmapXmlHandlers } from './nmap-xml.types';

/** An element's attributes, valid only while open() runs (a reader may reuse the object). */
export interface XmlAttributes {
  get(name: string): string | undefined;
}

/** XmlAttributes over a plain record, as saxes delivers them. */
export class RecordAttributes implements XmlAttributes {
  constructor(private readonly record: Readonly<Record<string, string>>) {}

  get(name: string): string | undefined {
    return Object.hasOwn(this.record, name) ? this.record[name] : undefined;
  }
}

const HOST_STATES: readonly HostState[] = ['up', 'down', 'unknown'];
const NO_ATTRIBUTES: XmlAttributes = new RecordAttributes({});

type PortDraft = Partial<PortObservation> & Pick<PortObservation, 'protocol' | 'port'>;

/**
 * What nmap's elements mean, apart from how the XML is tokenized: fed open/close events (in
 * document order, already checked for well-formedness), it builds hosts, progress and the run
 * summary and hands them to the handlers. `where` tells it the reader's position for errors.
 * Both readers drive it, so they agree on meaning by construction. The attributes it reads
 * are listed in NMAP_ATTRIBUTES_READ (nmap-xml.elements.ts): add a name there when reading a
 * new one, or the fast reader will not hand it over.
 */
export class NmapXmlBuilder {
  /** Names of the open elements; depth is bounded by nmap's schema, not by the document size. */
  private readonly stack: string[] = [];
  private host: HostObservation | null = null;
  private port: PortDraft | null = null;
  private summary: NmapRunSummary | null = null;
  private hostCount = 0;

  constructor(
    private readonly handlers: NmapXmlHandlers,
    private readonly where: () => { line: number; column: number },
  ) {}

  get hostsSeen(): number {
    return this.hostCount;
  }

  get finished(): NmapRunSummary | null {
    return this.summary;
  }

  fail(detail: string): never {
    const { line, column } = this.where();
    throw new NmapXmlError(detail, line, column);
  }

  open(name: string, attrs: XmlAttributes = NO_ATTRIBUTES): void {
    const parent = this.stack.length > 0 ? this.stack[this.stack.length - 1] : undefined;
    this.stack.push(name);
    switch (name) {
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
    if (this.host !== null) this.openInHost(this.host, name, parent, attrs);
  }

  close(name: string): void {
    this.stack.pop();
    if (name === 'port' && this.port !== null) {
      const observation = this.port;
      this.port = null;
      if (observation.state === undefined) this.fail(`port ${observation.port}/${observation.protocol} has no <state>`);
      this.host?.ports.push(observation as PortObservation);
    } else if (name === 'host' && this.host !== null && this.stack[this.stack.length - 1] === 'nmaprun') {
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

  private openInHost(host: HostObservation, name: string, parent: string | undefined, attrs: XmlAttributes): void {
    if (name === 'status' && parent === 'host') {
      const state = attrs.get('state') as HostState;
      const reason = attrs.get('reason');
      host.state = HOST_STATES.includes(state) ? state : 'unknown';
      if (reason) host.reason = reason;
    } else if (name === 'address' && parent === 'host') {
      host.addresses.push({ addr: attrs.get('addr') ?? '', type: attrs.get('addrtype') ?? 'ipv4' });
    } else if (name === 'hostname' && parent === 'hostnames') {
      // nmap lists a name once per source (user-given, PTR); keep each name once.
      const hostname = attrs.get('name');
      if (hostname && !host.hostnames.includes(hostname)) host.hostnames.push(hostname);
    } else if (name === 'port' && parent === 'ports') {
      const protocol = attrs.get('protocol');
      // sctp and ip-protocol scans are never requested by Portolan: such ports are skipped.
      this.port = protocol === 'tcp' || protocol === 'udp' ? { protocol, port: this.int(attrs, 'portid') } : null;
    } else if (name === 'state' && parent === 'port' && this.port !== null) {
      const state = attrs.get('state') as PortState;
      const reason = attrs.get('reason');
      if (!PORT_STATES.includes(state)) this.fail(`unknown port state "${state}"`);
      this.port.state = state;
      if (reason) this.port.reason = reason;
    } else if (name === 'service' && parent === 'port' && this.port !== null) {
      const service = attrs.get('name');
      const product = attrs.get('product');
      const version = attrs.get('version');
      if (service) this.port.service = service;
      if (product) this.port.product = product;
      if (version) this.port.version = version;
    }
  }

  private readProgress(attrs: XmlAttributes): ScanProgress {
    const progress: ScanProgress = {
      percent: this.num(attrs, 'percent'),
      task: attrs.get('task') ?? '',
      hostsDone: this.hostCount,
    };
    if (attrs.get('remaining') !== undefined) progress.remainingSeconds = this.int(attrs, 'remaining');
    return progress;
  }

  private readFinished(attrs: XmlAttributes): void {
    const summary = this.ensureSummary();
    const [errorMessage, text] = [attrs.get('errormsg'), attrs.get('summary')];
    summary.exit = attrs.get('exit') === 'error' ? 'error' : 'success';
    if (errorMessage) summary.errorMessage = errorMessage;
    if (text) summary.summary = text;
    if (attrs.get('time') !== undefined) summary.finishedAt = new Date(this.int(attrs, 'time') * 1000);
    if (attrs.get('elapsed') !== undefined) summary.elapsedSeconds = this.num(attrs, 'elapsed');
  }

  private readHostCounts(attrs: XmlAttributes): void {
    const summary = this.ensureSummary();
    summary.hostsUp = this.int(attrs, 'up');
    summary.hostsDown = this.int(attrs, 'down');
    summary.hostsTotal = this.int(attrs, 'total');
  }

  private ensureSummary(): NmapRunSummary {
    this.summary ??= { exit: 'success', hostsUp: 0, hostsDown: 0, hostsTotal: 0 };
    return this.summary;
  }

  private num(attrs: XmlAttributes, name: string): number {
    const text = attrs.get(name);
    const value = Number(text);
    if (text === undefined || text === '' || !Number.isFinite(value)) {
      this.fail(`attribute ${name}="${text ?? ''}" is not a number`);
    }
    return value;
  }

  private int(attrs: XmlAttributes, name: string): number {
    const value = this.num(attrs, name);
    if (!Number.isInteger(value)) this.fail(`attribute ${name}="${attrs.get(name)}" is not an integer`);
    return value;
  }
}

function readRunInfo(attrs: XmlAttributes): NmapRunInfo {
  const info: NmapRunInfo = { scanner: attrs.get('scanner') ?? '', args: attrs.get('args') ?? '', version: attrs.get('version') ?? '' };
  const [xmlOutputVersion, start] = [attrs.get('xmloutputversion'), attrs.get('start')];
  if (xmlOutputVersion) info.xmlOutputVersion = xmlOutputVersion;
  if (start && Number.isInteger(Number(start))) info.startedAt = new Date(Number(start) * 1000);
  return info;
}
