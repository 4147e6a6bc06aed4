import type { AttributeValue, Item } from './item';

const DIGIT_0 = 0x30;
const DOT = 0x2e;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const MINUS = 0x2d;
const STRING = 0x73; // s
const NUMBER = 0x6e; // n
const TRUE = 0x74; // t
const FALSE = 0x66; // f
const NULL = 0x7a; // z
const UNDEFINED = 0x75; // u
/** Marks a character code of 0xFF or more, written as this byte and two more (high, low). */
const WIDE = 0xff;

/**
 * A compact, lossless byte form of one host's items, for holding a large baseline off the heap
 * (see ByteArena): one byte string per host instead of two objects per item. Attribute-name
 * lists ("shapes") are numbered once per codec, so an item is stored as its shape number, key
 * and values, written straight into a reused buffer with no string built on the way:
 *
 *   item   = shape "." string value*      (the key, then one value per attribute of the shape)
 *   value  = "s" length ":" characters | "n" number ";" | "t" | "f" | "z" (null) | "u" (undefined)
 *
 * A character below 0xFF is one byte; any other UTF-16 code unit is 0xFF and two bytes, so
 * every string comes back exactly. -0 comes back as 0.
 */
export class ItemCodec {
  /** [type, ...attribute names] of each shape, by number. */
  private readonly shapes: string[][] = [];
  private readonly numbers = new Map<string, number>();
  private last = -1;
  private out = new Uint8Array(4096);
  private length = 0;

  /** The encoding of `items`: a view of the codec's buffer, valid until its next call. */
  encode(items: readonly Item[]): Uint8Array {
    this.length = 0;
    for (const item of items) {
      this.ensure(24);
      this.writeDecimal(this.shapeOf(item));
      this.out[this.length++] = DOT;
      this.writeString(item.key);
      const attributes = item.attributes;
      for (const name in attributes) this.writeValue(attributes[name]);
    }
    return this.out.subarray(0, this.length);
  }

  /** Whether `bytes` is exactly what encode(items) returns, found without building that. */
  matches(bytes: Uint8Array, items: readonly Item[]): boolean {
    let at = 0;
    for (const item of items) {
      let shape = 0;
      let c = bytes[at];
      for (; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = bytes[++at]) shape = shape * 10 + c - DIGIT_0;
      const names = this.shapes[shape];
      if (c !== DOT || names === undefined || names[0] !== item.type) return false;
      at = matchString(bytes, at + 1, item.key);
      let k = 1;
      const attributes = item.attributes;
      for (const name in attributes) {
        if (at < 0 || names[k] !== name) return false;
        const value = attributes[name];
        at = typeof value === 'string' ? matchString(bytes, at, value) : this.matchOther(bytes, at, value);
        k += 1;
      }
      if (at < 0 || k !== names.length) return false;
    }
    return at === bytes.length;
  }

  decode(host: string, bytes: Uint8Array): Item[] {
    const items: Item[] = [];
    const reader = { bytes, at: 0 };
    while (reader.at < bytes.length) {
      let shape = 0;
      let c = bytes[reader.at];
      for (; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = bytes[++reader.at]) shape = shape * 10 + c - DIGIT_0;
      const names = this.shapes[shape];
      if (c !== DOT || names === undefined) throw new Error(`not an ItemCodec encoding at byte ${reader.at}`);
      reader.at += 1;
      const key = readValue(reader);
      const attributes: Record<string, AttributeValue> = {};
      for (let k = 1; k < names.length; k += 1) attributes[names[k]] = readValue(reader) as AttributeValue;
      items.push({ type: names[0], host, key: key as string, attributes });
    }
    return items;
  }

  /** The shape number of an item, checking the last shape used first (items come in runs). */
  private shapeOf(item: Item): number {
    if (this.last >= 0 && sameShape(this.shapes[this.last], item)) return this.last;
    const shape = [item.type, ...Object.keys(item.attributes)];
    const id = shape.join('\0');
    let number = this.numbers.get(id);
    if (number === undefined) {
      number = this.shapes.push(shape) - 1;
      this.numbers.set(id, number);
    }
    this.last = number;
    return number;
  }

  private ensure(room: number): void {
    if (this.length + room <= this.out.length) return;
    const grown = new Uint8Array(Math.max(this.out.length * 2, this.length + room));
    grown.set(this.out.subarray(0, this.length));
    this.out = grown;
  }

  private writeDecimal(value: number): void {
    if (value >= 10) this.writeDecimal(Math.floor(value / 10));
    this.out[this.length++] = DIGIT_0 + (value % 10);
  }

  private writeString(text: string): void {
    this.ensure(text.length * 3 + 24);
    const out = this.out;
    out[this.length++] = STRING;
    this.writeDecimal(text.length);
    out[this.length++] = COLON;
    let at = this.length;
    for (let k = 0; k < text.length; k += 1) {
      const code = text.charCodeAt(k);
      if (code < WIDE) {
        out[at++] = code;
      } else {
        out[at++] = WIDE;
        out[at++] = code >> 8;
        out[at++] = code & 0xff;
      }
    }
    this.length = at;
  }

  private writeValue(value: AttributeValue | undefined): void {
    if (typeof value === 'string') {
      this.writeString(value);
      return;
    }
    this.ensure(32);
    if (typeof value === 'number') {
      this.out[this.length++] = NUMBER;
      if (Number.isSafeInteger(value)) {
        if (value < 0) this.out[this.length++] = MINUS;
        this.writeDecimal(Math.abs(value));
      } else {
        const text = String(value);
        for (let k = 0; k < text.length; k += 1) this.out[this.length++] = text.charCodeAt(k);
      }
      this.out[this.length++] = SEMICOLON;
    } else {
      this.out[this.length++] = typeof value === 'boolean' ? (value ? TRUE : FALSE) : value === null ? NULL : UNDEFINED;
    }
  }

  /** matchString for any value but a string: compares with what writeValue() writes. */
  private matchOther(bytes: Uint8Array, at: number, value: AttributeValue | undefined): number {
    const mark = this.length;
    this.writeValue(value);
    const length = this.length - mark;
    this.length = mark;
    for (let k = 0; k < length; k += 1) if (bytes[at + k] !== this.out[mark + k]) return -1;
    return at + length;
  }
}

function sameShape(shape: readonly string[], item: Item): boolean {
  if (shape[0] !== item.type) return false;
  let k = 1;
  for (const name in item.attributes) {
    if (shape[k] !== name) return false;
    k += 1;
  }
  return k === shape.length;
}

/** The index after the encoding of `text` at bytes[at], or -1 when something else is there. */
function matchString(bytes: Uint8Array, at: number, text: string): number {
  if (at < 0 || bytes[at] !== STRING) return -1;
  let length = 0;
  let c = bytes[++at];
  for (; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = bytes[++at]) length = length * 10 + c - DIGIT_0;
  if (c !== COLON || length !== text.length) return -1;
  at += 1;
  for (let k = 0; k < length; k += 1) {
    const code = text.charCodeAt(k);
    if (code < WIDE) {
      if (bytes[at] !== code) return -1;
      at += 1;
    } else {
      if (bytes[at] !== WIDE || bytes[at + 1] !== code >> 8 || bytes[at + 2] !== (code & 0xff)) return -1;
      at += 3;
    }
  }
  return at;
}

function readValue(reader: { bytes: Uint8Array; at: number }): AttributeValue | undefined {
  const { bytes } = reader;
  const tag = bytes[reader.at++];
  if (tag === STRING) {
    let length = 0;
    let c = bytes[reader.at];
    for (; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = bytes[++reader.at]) length = length * 10 + c - DIGIT_0;
    reader.at += 1;
    const codes: number[] = [];
    for (let k = 0; k < length; k += 1) {
      const code = bytes[reader.at];
      codes.push(code === WIDE ? (bytes[reader.at + 1] << 8) | bytes[reader.at + 2] : code);
      reader.at += code === WIDE ? 3 : 1;
    }
    let text = '';
    for (let k = 0; k < codes.length; k += 4096) text += String.fromCharCode(...codes.slice(k, k + 4096));
    return text;
  }
  if (tag === NUMBER) {
    const semicolon = bytes.indexOf(SEMICOLON, reader.at);
    const number = Number(String.fromCharCode(...bytes.subarray(reader.at, semicolon)));
    reader.at = semicolon + 1;
    return number;
  }
  if (tag === TRUE || tag === FALSE) return tag === TRUE;
  if (tag === NULL) return null;
  if (tag === UNDEFINED) return undefined;
  throw new Error(`not an ItemCodec value at byte ${reader.at - 1}`);
}
