import { ElementNames, occursAt } from './nmap-xml.elements';
import type { ElementEntry } from './nmap-xml.elements';
import { declarationEnd, INCOMPLETE, instructionEnd } from './xml-markup.parser';
import type { MarkupContext } from './xml-markup.parser';
import { XmlInput } from './xml-input.base';
import { decodeAttributeValue, detach, referenceEnd, resolveReference } from './xml-text.decoder';

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUESTION = 0x3f;
const BANG = 0x21;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;

const S = '[ \\t\\n\\r]';
const NAME = '[A-Za-z_:][-A-Za-z0-9_.:]*';
const VALUE = `"[^"<&>\\x00-\\x1f\\ud800-\\udfff]*"`;
/**
 * A run of up to 256 plain tags, each after text free of "<", "&", characters XML forbids and
 * surrogates: ASCII names, values in double quotes free of "<", "&", ">", control characters
 * and surrogates (as nmap writes them). Matching it checks their syntax in native code, so
 * the run can be walked with indexOf alone. Anything else goes through the careful path.
 */
const PLAIN_RUN = new RegExp(`(?:[^<&\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\ud800-\\udfff\\ufffe\\uffff]*<(?:/${NAME}${S}*|${NAME}(?:${S}+${NAME}${S}*=${S}*${VALUE})*${S}*/?)>){0,256}`, 'y');

/**
 * The XML layer of NmapXmlFastReader: finds elements in a decoded string and checks that the
 * document is well-formed (tag nesting, one root, names, quoting, entity and character
 * references, characters XML forbids, comments, PIs, the XML declaration, DOCTYPE and CDATA
 * placement). Attribute values are cut out only for the attributes ElementNames says are read.
 * Subclasses receive the elements and own the input.
 *
 * Plain runs of tags (PLAIN_RUN) are checked by one native regular expression and walked with
 * indexOf; anything else (references, comments, single quotes, non-ASCII names...) goes
 * through a careful character-by-character path with precise errors. Not a validating parser;
 * attribute uniqueness is checked only among the attributes read.
 */
export abstract class XmlStreamScanner extends XmlInput implements MarkupContext {
  /** Names of the open elements. */
  protected readonly open: string[] = [];
  started = false;
  sawRoot = false;
  private readonly names = new ElementNames();

  get inRoot(): boolean {
    return this.open.length > 0;
  }

  /** `attributes` (the values read, for a known element) is valid only during the call. */
  protected abstract openElement(name: string, attributes: ElementEntry | undefined, end: number): void;

  protected abstract closeElement(name: string, end: number): void;

  /** Handles every complete construct in `s`; returns how much of it was consumed. */
  protected scan(s: string): number {
    this.begin(s);
    const n = s.length;
    let i = 0;
    while (i < n) {
      PLAIN_RUN.lastIndex = i;
      PLAIN_RUN.test(s);
      if (PLAIN_RUN.lastIndex > i) {
        const end = PLAIN_RUN.lastIndex;
        this.walk(s, i, end);
        i = end;
        continue;
      }
      const lt = s.indexOf('<', i);
      if (lt < 0) {
        // Text runs past this chunk: check all but a reference that may be cut in two.
        // (and a surrogate pair cut in two, when the input comes as strings).
        const amp = s.lastIndexOf('&');
        const high = s.charCodeAt(n - 1) >= 0xd800 && s.charCodeAt(n - 1) <= 0xdbff;
        const cut = amp >= i && s.indexOf(';', amp) < 0 ? amp : high ? n - 1 : n;
        this.text(s, i, cut);
        return cut;
      }
      this.text(s, i, lt);
      // No tag may contain a "<": the next one bounds this construct if it is a tag.
      const next = s.indexOf('<', lt + 1);
      const end = this.markup(s, lt, next < 0 ? n : next);
      if (end === INCOMPLETE) return lt;
      this.started = true;
      i = end;
    }
    return i;
  }

  /** Walks a run PLAIN_RUN matched: every tag in it is known to be well-formed. */
  private walk(s: string, from: number, to: number): void {
    this.started = true;
    for (let i = from; i < to; ) {
      let lt = i;
      if (s.charCodeAt(i) !== LT) {
        lt = s.charCodeAt(i + 1) === LT ? i + 1 : s.indexOf('<', i + 1);
        if (this.open.length === 0) this.text(s, i, lt);
      }
      if (s.charCodeAt(lt + 1) === SLASH) {
        const top = this.open[this.open.length - 1];
        const end = top === undefined ? -1 : lt + 2 + top.length;
        if (top !== undefined && s.charCodeAt(end) === GT && occursAt(top, s, lt + 2, end)) {
          this.open.pop();
          this.closeElement(top, end + 1);
          i = end + 1;
        } else {
          const gt = s.indexOf('>', lt + 2);
          let nameEnd = gt;
          while (isWhitespace(s.charCodeAt(nameEnd - 1))) nameEnd -= 1;
          this.closeNamed(s, lt + 2, nameEnd, gt + 1);
          i = gt + 1;
        }
        continue;
      }
      const known = this.names.match(s, lt + 1, isNameChar);
      let nameEnd = lt + 1 + (known === undefined ? 1 : known.name.length);
      if (known === undefined) while (isNameChar(s.charCodeAt(nameEnd))) nameEnd += 1;
      let gt: number;
      if (known !== undefined && known.read.length > 0) {
        gt = this.readPlainAttributes(s, known, nameEnd);
      } else {
        const c = s.charCodeAt(nameEnd);
        gt = c === GT ? nameEnd : c === SLASH ? nameEnd + 1 : s.indexOf('>', nameEnd);
      }
      this.openNamed(known?.name ?? s.slice(lt + 1, nameEnd), known, gt + 1, s.charCodeAt(gt - 1) === SLASH);
      i = gt + 1;
    }
  }

  /**
   * Reads the wanted attributes of a plain tag whose name ends at `p`; returns the index of
   * its closing ">". PLAIN_RUN has checked the tag, and its values are double-quoted and hold
   * no quote, so the attributes are found by hopping from quote to quote.
   */
  private readPlainAttributes(s: string, known: ElementEntry, p: number): number {
    known.clear();
    for (;;) {
      let c = s.charCodeAt(p);
      if (c === GT) return p;
      if (c === SLASH) return p + 1;
      // s[p] is a space; after the spaces comes a name (name S* "=" S* '"' value '"') or the end.
      let start = p + 1;
      while (isWhitespace(s.charCodeAt(start))) start += 1;
      c = s.charCodeAt(start);
      if (c === GT) return start;
      if (c === SLASH) return start + 1;
      const open = s.indexOf('"', start);
      const close = s.indexOf('"', open + 1);
      let nameEnd = open - 1;
      while (s.charCodeAt(nameEnd) !== EQUALS) nameEnd -= 1;
      while (isWhitespace(s.charCodeAt(nameEnd - 1))) nameEnd -= 1;
      const slot = known.slotOf(s, start, nameEnd);
      if (slot >= 0) {
        if (known.values[slot] !== undefined) this.failAt(close + 1, `duplicate attribute ${known.read[slot]} in <${known.name}>`);
        known.values[slot] = detach(s.slice(open + 1, close));
      }
      p = close + 1;
    }
  }

  private openNamed(name: string, known: ElementEntry | undefined, end: number, selfClosing: boolean): void {
    if (this.open.length === 0) {
      if (this.sawRoot) this.failAt(end, `a second root element <${name}>: documents may contain only one root`);
      this.sawRoot = true;
    }
    this.open.push(name);
    this.openElement(name, known, end);
    if (selfClosing) {
      this.open.pop();
      this.closeElement(name, end);
    }
  }

  /** Closes the element named s[start, nameEnd) with the tag ending at `end`. */
  private closeNamed(s: string, start: number, nameEnd: number, end: number): void {
    const top = this.open[this.open.length - 1];
    if (top === undefined || !occursAt(top, s, start, nameEnd)) {
      const expected = top === undefined ? 'no element is open' : `expected </${top}>`;
      this.failAt(end, `unexpected close tag </${s.slice(start, nameEnd)}>: ${expected}`);
    }
    this.open.pop();
    this.closeElement(top, end);
  }

  /** Character data s[start, end): whitespace outside the root, valid references inside it. */
  private text(s: string, start: number, end: number): void {
    if (start === end) return;
    this.started = true;
    this.refuseForbidden(start, end);
    if (this.open.length === 0) {
      for (let k = start; k < end; k += 1) {
        if (!isWhitespace(s.charCodeAt(k))) this.failAt(k + 1, 'text data outside of root node');
      }
      return;
    }
    for (let amp = this.nextAmp(start); amp < end; amp = this.nextAmp(amp + 1)) {
      const semi = referenceEnd(s, amp, end, this.fail);
      resolveReference(s, amp, semi, this.fail);
    }
  }

  /** Handles the construct at s[lt] === '<'; `limit` is the next '<' (or the end of `s`). */
  private markup(s: string, lt: number, limit: number): number {
    const c = s.charCodeAt(lt + 1);
    const end =
      c === SLASH
        ? this.closeTag(s, lt, limit)
        : c === QUESTION
          ? instructionEnd(s, lt, this, this.fail)
          : c === BANG
            ? declarationEnd(s, lt, this, this.fail)
            : lt + 1 >= s.length
              ? INCOMPLETE
              : this.startTag(s, lt, limit);
    if (end !== INCOMPLETE) this.refuseForbidden(lt, end);
    return end;
  }

  /** A tag that runs into `limit`: unfinished input at the end of `s`, else a stray "<". */
  private cutShort(s: string, limit: number, name: string): number {
    if (limit >= s.length) return INCOMPLETE;
    return this.failAt(limit + 1, `"<" inside the tag <${name}>`);
  }

  /** Any start tag, character by character, with precise errors. */
  private startTag(s: string, lt: number, limit: number): number {
    if (!isNameStart(s.charCodeAt(lt + 1))) this.failAt(lt + 2, 'disallowed character in tag name');
    let j = lt + 2;
    while (j < limit && isNameChar(s.charCodeAt(j))) j += 1;
    if (j >= limit) return this.cutShort(s, limit, s.slice(lt + 1, j));
    const known = this.names.find(s, lt + 1, j);
    const name = known === undefined ? s.slice(lt + 1, j) : known.name;
    known?.clear();
    let spaced = false;
    for (;;) {
      let c = s.charCodeAt(j);
      if (isWhitespace(c)) {
        spaced = true;
        do j += 1;
        while (j < limit && isWhitespace(s.charCodeAt(j)));
        if (j >= limit) return this.cutShort(s, limit, name);
        c = s.charCodeAt(j);
      }
      if (c === GT || c === SLASH) break;
      if (!isNameStart(c)) this.failAt(j + 1, `disallowed character in an attribute name of <${name}>`);
      if (!spaced) this.failAt(j + 1, `no whitespace between attributes of <${name}>`);
      const nameStart = j;
      do j += 1;
      while (j < limit && isNameChar(s.charCodeAt(j)));
      const nameEnd = j;
      while (j < limit && isWhitespace(s.charCodeAt(j))) j += 1;
      if (j >= limit) return this.cutShort(s, limit, name);
      if (s.charCodeAt(j) !== EQUALS) this.failAt(j + 1, `attribute ${s.slice(nameStart, nameEnd)} of <${name}> has no value`);
      do j += 1;
      while (j < limit && isWhitespace(s.charCodeAt(j)));
      if (j >= limit) return this.cutShort(s, limit, name);
      const quote = s.charCodeAt(j);
      if (quote !== QUOTE && quote !== APOSTROPHE) this.failAt(j + 1, `unquoted attribute value in <${name}>`);
      const valueStart = j + 1;
      const close = s.indexOf(quote === QUOTE ? '"' : "'", valueStart);
      if (close < 0 || close > limit) return this.cutShort(s, limit, name);
      const references = this.nextAmp(valueStart) < close;
      const slot = known === undefined ? -1 : known.slotOf(s, nameStart, nameEnd);
      if (slot >= 0 && known !== undefined) {
        if (known.values[slot] !== undefined) this.failAt(close + 1, `duplicate attribute ${known.read[slot]} in <${name}>`);
        const plain = !references && !this.breaksLine(valueStart, close);
        known.values[slot] = detach(plain ? s.slice(valueStart, close) : decodeAttributeValue(s, valueStart, close, this.fail));
      } else if (references) {
        decodeAttributeValue(s, valueStart, close, this.fail);
      }
      j = close + 1;
      if (j >= limit) return this.cutShort(s, limit, name);
      spaced = false;
    }
    const selfClosing = s.charCodeAt(j) === SLASH;
    if (selfClosing) {
      if (j + 1 >= limit) return this.cutShort(s, limit, name);
      if (s.charCodeAt(j + 1) !== GT) this.failAt(j + 2, `"/" in <${name}> not followed by ">"`);
      j += 1;
    }
    this.openNamed(name, known, j + 1, selfClosing);
    return j + 1;
  }

  private closeTag(s: string, lt: number, limit: number): number {
    const gt = s.indexOf('>', lt + 2);
    if (gt < 0 || gt > limit) return this.cutShort(s, limit, '/');
    let nameEnd = gt;
    while (nameEnd > lt + 2 && isWhitespace(s.charCodeAt(nameEnd - 1))) nameEnd -= 1;
    this.closeNamed(s, lt + 2, nameEnd, gt + 1);
    return gt + 1;
  }
}

// Character classes live here, not in a shared module: called per character, they must be
// local to be inlined (an imported function is read through the CommonJS exports each call).
/** 1: may start a name, 2: may continue one (ASCII only; every non-ASCII character is allowed). */
const NAME_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c += 1) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z_:]/.test(ch)) NAME_CLASS[c] = 3;
  else if (/[0-9.-]/.test(ch)) NAME_CLASS[c] = 2;
}

function isNameStart(code: number): boolean {
  return code < 128 ? (NAME_CLASS[code] & 1) === 1 : code === code; // NaN (past the end) is not
}

function isNameChar(code: number): boolean {
  return code < 128 ? NAME_CLASS[code] !== 0 : code === code;
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d;
}

