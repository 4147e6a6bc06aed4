import { SaxesParser } from 'saxes';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { NmapXmlBuilder, RecordAttributes } from './nmap-xml.builder';
import { NmapXmlFastReader } from './nmap-xml.fast-reader';
import { NmapXmlError } from './nmap-xml.types';
import type { NmapRun, NmapRunInfo, NmapRunSummary, NmapXmlHandlers, NmapXmlReader } from './nmap-xml.types';
import type { HostObservation } from './scan-outcome';

export { NmapXmlError } from './nmap-xml.types';
export type { NmapRun, NmapRunInfo, NmapRunSummary, NmapXmlHandlers, NmapXmlReader } from './nmap-xml.types';

/**
 * Streaming reader for `nmap -oX -` over the saxes XML parser. Feed stdout chunk by chunk with
 * write(); hosts, progress and the run summary arrive through callbacks as soon as their
 * elements close, so memory holds one host at a time however large the document. Call end()
 * once the stream is over: it throws NmapXmlError for a truncated document.
 *
 * Run time uses NmapXmlFastReader, which emits the same events in under half the time; this
 * one stays as the reference the fast reader is tested against.
 */
export class NmapXmlStreamParser implements NmapXmlReader {
  private readonly sax = new SaxesParser<{ position: true; xmlns: false }>({ position: true, xmlns: false });
  private readonly decoder = new StringDecoder('utf8');
  private readonly builder: NmapXmlBuilder;
  private failure: Error | null = null;
  private ended = false;

  constructor(handlers: NmapXmlHandlers = {}) {
    this.builder = new NmapXmlBuilder(handlers, () => ({ line: this.sax.line, column: this.sax.column }));
    this.sax.on('error', (error) => {
      throw new NmapXmlError(error.message.replace(/^\d+:\d+: /, ''), this.sax.line, this.sax.column);
    });
    this.sax.on('opentag', (tag) => this.builder.open(tag.name, new RecordAttributes(tag.attributes as Record<string, string>)));
    this.sax.on('closetag', (tag) => this.builder.close(tag.name));
  }

  get hostsSeen(): number {
    return this.builder.hostsSeen;
  }

  get finished(): NmapRunSummary | null {
    return this.builder.finished;
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
      if (this.builder.finished === null) this.builder.fail('the document has no <runstats>; nmap did not finish');
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
}

export interface ParsedNmapXml {
  run: NmapRun;
  hosts: HostObservation[];
}

/**
 * Whole-document convenience (keeps every host in memory). Reads with NmapXmlFastReader unless
 * another reader is given (tests pass the saxes one to compare).
 */
export async function parseNmapXml(
  input: string | Readable,
  createReader: (handlers: NmapXmlHandlers) => NmapXmlReader = (handlers) => new NmapXmlFastReader(handlers),
): Promise<ParsedNmapXml> {
  const hosts: HostObservation[] = [];
  let info: NmapRunInfo = { scanner: '', args: '', version: '' };
  const reader = createReader({
    onRunInfo: (runInfo) => (info = runInfo),
    onHost: (host) => hosts.push(host),
  });
  if (typeof input === 'string') {
    reader.write(input);
  } else {
    for await (const chunk of input) reader.write(chunk as string | Buffer);
  }
  reader.end();
  return { run: { ...info, ...(reader.finished as NmapRunSummary) }, hosts };
}
