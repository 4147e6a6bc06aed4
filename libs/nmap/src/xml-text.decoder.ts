/**
 * Helpers for NmapXmlFastReader: entity and character references, attribute-value
 * normalization, detaching kept substrings. Positions are string indexes; `fail`
 * receives the index just past the offending character.
 */
export type FailAt = (detail: string, end: number) => never;

const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

/**
 * Resolves the reference starting at s[amp] === '&' and ending before the ';' at `semi`: one of
 * the five predefined entities, or a decimal / hexadecimal character reference.
 */
export function resolveReference(s: string, amp: number, semi: number, fail: FailAt): string {
  const name = s.slice(amp + 1, semi);
  if (name.charCodeAt(0) !== 0x23 /* # */) {
    const value = PREDEFINED[name];
    if (value === undefined || !Object.hasOwn(PREDEFINED, name)) fail(`undefined entity &${name};`, semi + 1);
    return value;
  }
  const hex = name.charCodeAt(1) === 0x78; /* x */
  const digits = name.slice(hex ? 2 : 1);
  const code = (hex ? /^[0-9a-fA-F]{1,8}$/ : /^[0-9]{1,10}$/).test(digits) ? parseInt(digits, hex ? 16 : 10) : NaN;
  if (!isXmlChar(code)) fail(`malformed character reference &${name};`, semi + 1);
  return String.fromCodePoint(code);
}

/** Index of the ';' closing the reference at s[amp], or a failure when there is none before `end`. */
export function referenceEnd(s: string, amp: number, end: number, fail: FailAt): number {
  const semi = s.indexOf(';', amp + 1);
  if (semi < 0 || semi >= end) fail('"&" does not start an entity or character reference ending in ";"', amp + 1);
  return semi;
}

/**
 * The value of the attribute written as s[start, end): references resolved, and each literal
 * tab, line feed, carriage return or CR LF pair turned into one space, as XML requires.
 */
export function decodeAttributeValue(s: string, start: number, end: number, fail: FailAt): string {
  let value = '';
  let run = start;
  for (let k = start; k < end; ) {
    const c = s.charCodeAt(k);
    if (c === 0x26 /* & */) {
      const semi = referenceEnd(s, k, end, fail);
      value += s.slice(run, k) + resolveReference(s, k, semi, fail);
      k = semi + 1;
      run = k;
    } else if (c === 0x09 || c === 0x0a || c === 0x0d) {
      value += `${s.slice(run, k)} `;
      k += c === 0x0d && s.charCodeAt(k + 1) === 0x0a ? 2 : 1;
      run = k;
    } else {
      if (c < 0x20) fail('disallowed character in attribute value', k + 1);
      k += 1;
    }
  }
  return value + s.slice(run, end);
}

/**
 * A copy of `text` that holds no reference to the string it was cut from. V8 represents a
 * substring of 13+ characters as a view of its parent, so a kept attribute value would keep the
 * whole input chunk alive; concatenating and re-slicing flattens it into a string of its own.
 */
export function detach(text: string): string {
  return text.length < 13 ? text : `\0${text}`.slice(1);
}
