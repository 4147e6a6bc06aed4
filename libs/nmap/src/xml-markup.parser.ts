/**
 * The rarer XML constructs for XmlStreamScanner: processing instructions, comments, CDATA
 * sections and the DOCTYPE. Each function gets s[lt] === '<' and returns the index just past
 * the construct, or INCOMPLETE when it runs past the input read so far.
 */
import type { FailAt } from './xml-text.decoder';

/** Returned when a construct runs past the input read so far. */
export const INCOMPLETE = -1;

const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const GT = 0x3e;

export interface MarkupContext {
  /** Whether anything (text or markup) came before in the document. */
  readonly started: boolean;
  readonly inRoot: boolean;
  readonly sawRoot: boolean;
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d;
}

function isTargetChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f || code === 0x3a || code >= 0x80 ||
    (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e;
}

/** <?target ...?>; the XML declaration only at the very start. */
export function instructionEnd(s: string, lt: number, context: MarkupContext, fail: FailAt): number {
  const end = s.indexOf('?>', lt + 2);
  if (end < 0) return INCOMPLETE;
  let j = lt + 2;
  while (j < end && isTargetChar(s.charCodeAt(j))) j += 1;
  const first = s.charCodeAt(lt + 2);
  if (j === lt + 2 || (first >= 0x30 && first <= 0x39) || first === 0x2d || first === 0x2e) {
    fail('processing instruction without a target', lt + 3);
  }
  const after = s.charCodeAt(j);
  if (!isWhitespace(after) && after !== 0x3f /* ? */) fail('disallowed character in processing instruction target', j + 1);
  const target = s.slice(lt + 2, j);
  if (target.toLowerCase() === 'xml') {
    if (target !== 'xml') fail(`processing instruction target "${target}" is reserved`, j + 1);
    if (context.started) fail('the XML declaration must be at the start of the document', end + 2);
    if (!XML_DECLARATION.test(s.slice(j, end))) fail('malformed XML declaration', end + 2);
  }
  return end + 2;
}

const S = '[ \\t\\n\\r]';
const XML_DECLARATION = new RegExp(
  `^${S}+version${S}*=${S}*(["'])1\\.[0-9]+\\1(?:${S}+encoding${S}*=${S}*(["'])[A-Za-z][A-Za-z0-9._-]*\\2)?(?:${S}+standalone${S}*=${S}*(["'])(?:yes|no)\\3)?${S}*$`,
);

const DECLARATIONS = ['<!--', '<![CDATA[', '<!DOCTYPE'] as const;

/** <!-- comment -->, <![CDATA[ ... ]]> or <!DOCTYPE ...>. */
export function declarationEnd(s: string, lt: number, context: MarkupContext, fail: FailAt): number {
  const kind = prefixAt(s, lt, DECLARATIONS);
  if (kind === INCOMPLETE) return INCOMPLETE;
  if (kind === '<!--') {
    const end = s.indexOf('-->', lt + 4);
    if (end < 0) return INCOMPLETE;
    const dashes = s.indexOf('--', lt + 4);
    if (dashes < end) fail('"--" inside a comment', dashes + 2);
    return end + 3;
  }
  if (kind === '<![CDATA[') {
    const end = s.indexOf(']]>', lt + 9);
    if (end < 0) return INCOMPLETE;
    if (!context.inRoot) fail('CDATA outside of root node', lt + 9);
    return end + 3;
  }
  if (kind === null) fail('unexpected markup after "<!"', lt + 2);
  if (context.sawRoot) fail('DOCTYPE after the root element', lt + 9);
  let quote = 0;
  let depth = 0;
  for (let j = lt + 9; j < s.length; j += 1) {
    const c = s.charCodeAt(j);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === QUOTE || c === APOSTROPHE) quote = c;
    else if (c === 0x5b /* [ */) depth += 1;
    else if (c === 0x5d /* ] */) depth -= 1;
    else if (c === GT && depth <= 0) return j + 1;
  }
  return INCOMPLETE;
}

/** Which of `prefixes` s has at `at`; INCOMPLETE when s ends before that can be told. */
function prefixAt<P extends string>(s: string, at: number, prefixes: readonly P[]): P | null | typeof INCOMPLETE {
  const found = prefixes.find((prefix) => s.startsWith(prefix, at));
  if (found !== undefined) return found;
  const rest = s.slice(at);
  return prefixes.some((prefix) => rest.length < prefix.length && prefix.startsWith(rest)) ? INCOMPLETE : null;
}

/** What an unfinished construct left at the end of the input is, for the error message. */
export function describeUnfinished(rest: string): string {
  if (rest.startsWith('<!--')) return 'comment';
  if (rest.startsWith('<?')) return 'processing instruction';
  if (rest.startsWith('<!')) return 'declaration';
  return 'tag';
}
