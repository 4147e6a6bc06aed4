import { NmapXmlBuilder } from './nmap-xml.builder';
import type { ElementEntry } from './nmap-xml.elements';
import { NmapXmlError } from './nmap-xml.types';
import type { NmapRunSummary, NmapXmlHandlers, NmapXmlReader } from './nmap-xml.types';
import { describeUnfinished } from './xml-markup.parser';
import { XmlStreamScanner } from './xml-stream.scanner';

/**
 * Streaming reader for `nmap -oX -`, written for speed (under half the saxes reader's time):
 * XmlStreamScanner checks the XML and cuts out only the attributes NmapXmlBuilder reads. Feed
 * chunks (Buffers or strings) with write(); a construct cut by a chunk boundary is kept and
 * finished with the next chunk; end() throws NmapXmlError for a truncated document.
 *
 * For a well-formed document it emits exactly the events NmapXmlStreamParser emits, and it
 * refuses what that parser refuses (the parity properties in the spec hold it to both), with
 * two known differences: it does not check for duplicates among attributes it does not read,
 * and it refuses half of a surrogate pair, which saxes reads by taking the next character as
 * the other half. Its error messages and positions are its own.
 */
export class NmapXmlFastReader extends XmlStreamScanner implements NmapXmlReader {
  private readonly builder: NmapXmlBuilder;
  /** Input not consumed yet: an unfinished construct. */
  private leftover = '';
  /** The bytes of a UTF-8 character cut by the end of the last chunk. */
  private partial: Buffer = EMPTY;
  /** Reused to put the leftover, the partial character and the next chunk together. */
  private scratch: Buffer = EMPTY;
  /** Where in `input` errors raised by the builder point. */
  private markAt = 0;
  private failure: Error | null = null;
  private ended = false;

  constructor(handlers: NmapXmlHandlers = {}) {
    super();
    this.builder = new NmapXmlBuilder(handlers, () => this.positionAt(this.markAt));
  }

  get hostsSeen(): number {
    return this.builder.hostsSeen;
  }

  get finished(): NmapRunSummary | null {
    return this.builder.finished;
  }

  /** Reads the next chunk. The reader keeps no reference to `chunk`: its buffer may be reused. */
  write(chunk: string | Buffer): void {
    this.guard(() => {
      if (typeof chunk === 'string') {
        const partial = this.partial.length > 0 ? this.partial.toString('utf8') : '';
        this.partial = EMPTY;
        this.consume(this.leftover + partial + chunk);
        return;
      }
      // The leftover is decoded again with the chunk, into one flat string: a concatenated
      // string is slower to scan character by character. Text that UTF-8 cannot carry (half of
      // a surrogate pair, from string input) is concatenated instead.
      const carried = this.leftover.length > 0 && !LONE_SURROGATE.test(this.leftover);
      const bytes = carried || this.partial.length > 0 ? this.join(carried ? this.leftover : '', chunk) : chunk;
      const complete = completeUtf8Length(bytes);
      this.partial = complete === bytes.length ? EMPTY : Buffer.from(bytes.subarray(complete));
      const text = bytes.toString('utf8', 0, complete);
      this.consume(carried ? text : this.leftover + text);
    });
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.guard(() => {
      const partial = this.partial.toString('utf8');
      this.partial = EMPTY;
      if (partial.length > 0 || this.leftover.length > 0) this.consume(this.leftover + partial);
      const s = (this.input = this.leftover);
      const top = this.open[this.open.length - 1];
      if (top !== undefined) this.failAt(s.length, `the document is truncated (unclosed tag: ${top})`);
      if (s.length > 0) this.failAt(s.length, `the document is truncated (unfinished ${describeUnfinished(s)})`);
      if (!this.sawRoot) this.failAt(0, 'the document is truncated (it has no root element)');
      this.markAt = s.length;
      if (this.builder.finished === null) this.builder.fail('the document has no <runstats>; nmap did not finish');
    });
  }

  protected openElement(name: string, attributes: ElementEntry | undefined, end: number): void {
    this.markAt = end;
    this.builder.open(name, attributes);
  }

  protected closeElement(name: string, end: number): void {
    this.markAt = end;
    this.builder.close(name);
  }

  protected failAt(end: number, detail: string): never {
    const { line, column } = this.positionAt(end);
    throw new NmapXmlError(detail, line, column);
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

  /** The bytes of `leftover`, the partial character and `chunk`, in the scratch buffer. */
  private join(leftover: string, chunk: Buffer): Buffer {
    const size = Buffer.byteLength(leftover, 'utf8') + this.partial.length + chunk.length;
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, this.scratch.length * 2, 64 * 1024));
    let at = this.scratch.write(leftover, 0, 'utf8');
    at += this.partial.copy(this.scratch, at);
    at += chunk.copy(this.scratch, at);
    return this.scratch.subarray(0, at);
  }

  /** Scans `text`; what it leaves unfinished is kept for the next chunk. */
  private consume(text: string): void {
    const s = !this.started && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // byte order mark
    const used = this.scan(s);
    this.advance(used);
    this.leftover = s.slice(used);
    this.input = '';
  }
}

const EMPTY = Buffer.alloc(0);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** How many leading bytes of `bytes` are whole UTF-8 characters (a chunk may end inside one). */
function completeUtf8Length(bytes: Buffer): number {
  const n = bytes.length;
  let start = n - 1;
  while (start >= 0 && n - start < 4 && (bytes[start] & 0xc0) === 0x80) start -= 1;
  if (start < 0) return n;
  const lead = bytes[start];
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return n - start < length ? start : n;
}
