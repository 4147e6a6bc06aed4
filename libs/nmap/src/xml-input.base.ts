/**
 * The input side of XmlStreamScanner: the string being scanned, the line and column its first
 * character sits at, errors that point into it, and cursors to the next occurrence of the rare
 * characters that need care ("&", line breaks in values, characters XML forbids), each found
 * with one native search per chunk instead of a look at every character.
 */
export abstract class XmlInput {
  /** The string being scanned; error positions are computed in it. */
  protected input = '';
  /** Position of input[0]: 1-based line, and characters already read on that line. */
  protected line = 1;
  protected column = 0;
  /** Index in `input` of the next "&" not yet passed; -1 until looked for. */
  private ampAt = -1;
  /** Likewise for the next line feed, and the next tab or carriage return. */
  private lineFeedAt = -1;
  private tabOrReturnAt = -1;
  /** Likewise for the next character XML forbids (see FORBIDDEN). */
  private forbiddenAt = -1;

  protected readonly fail = (detail: string, end: number): never => this.failAt(end, detail);

  /** Throws for a fault found just before input[end]. */
  protected abstract failAt(end: number, detail: string): never;

  /** Starts on a new string to scan. */
  protected begin(s: string): void {
    this.input = s;
    this.ampAt = this.lineFeedAt = this.tabOrReturnAt = this.forbiddenAt = -1;
  }

  /** Index of the first "&" at or after `from` (the input's length if none). */
  protected nextAmp(from: number): number {
    if (this.ampAt < from) this.ampAt = indexOrEnd(this.input, '&', from);
    return this.ampAt;
  }

  /** Whether input[start, end) holds a tab, line feed or carriage return (read as spaces). */
  protected breaksLine(start: number, end: number): boolean {
    if (this.lineFeedAt < start) this.lineFeedAt = indexOrEnd(this.input, '\n', start);
    if (this.tabOrReturnAt < start) this.tabOrReturnAt = Math.min(indexOrEnd(this.input, '\t', start), indexOrEnd(this.input, '\r', start));
    return this.lineFeedAt < end || this.tabOrReturnAt < end;
  }

  /** Fails on a character XML forbids in input[start, end). */
  protected refuseForbidden(start: number, end: number): void {
    if (this.forbiddenAt < start) {
      FORBIDDEN.lastIndex = start;
      this.forbiddenAt = FORBIDDEN.exec(this.input)?.index ?? this.input.length;
    }
    if (this.forbiddenAt < end) this.failAt(this.forbiddenAt + 1, 'disallowed character');
  }

  /** Line and column after reading input[0, end). */
  protected positionAt(end: number): { line: number; column: number } {
    const s = this.input;
    let { line, column } = this;
    for (let k = 0; k < end; k += 1) {
      if (s.charCodeAt(k) === 0x0a) {
        line += 1;
        column = 0;
      } else column += 1;
    }
    return { line, column };
  }

  /** Moves the recorded position past input[0, end). */
  protected advance(end: number): void {
    const s = this.input;
    let last = -1;
    for (let k = s.indexOf('\n'); k >= 0 && k < end; k = s.indexOf('\n', k + 1)) {
      this.line += 1;
      last = k;
    }
    this.column = last < 0 ? this.column + end : end - last - 1;
  }
}

/** Characters XML forbids: controls other than tab, CR and LF, U+FFFE/F, unpaired surrogates. */
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function indexOrEnd(s: string, search: string, from: number): number {
  const at = s.indexOf(search, from);
  return at < 0 ? s.length : at;
}
