/**
 * An append-only store of byte strings kept outside the JavaScript heap, in 1 MiB pages,
 * addressed by slot number. A large index that lives as long as a diff would otherwise be
 * copied and promoted through the garbage collector's young generation, which then grows to
 * its maximum size and stays there; here it costs the collector nothing, and growing it never
 * copies what it already holds.
 */
export class ByteArena {
  private pages: Buffer[] = [];
  /** Bytes used in the last page. */
  private used = 0;
  private held = 0;
  private page = new Uint32Array(256);
  private start = new Uint32Array(256);
  private end = new Uint32Array(256);
  private count = 0;

  /** Bytes held. */
  get byteLength(): number {
    return this.held;
  }

  /** Stores a copy of `bytes`; returns its slot. */
  add(bytes: Uint8Array): number {
    const length = bytes.length;
    if (this.pages.length === 0 || this.used + length > PAGE_SIZE) {
      this.pages.push(Buffer.allocUnsafeSlow(Math.max(PAGE_SIZE, length)));
      this.used = 0;
    }
    if (this.count === this.end.length) this.growSlots();
    const slot = this.count;
    this.pages[this.pages.length - 1].set(bytes, this.used);
    this.page[slot] = this.pages.length - 1;
    this.start[slot] = this.used;
    this.end[slot] = this.used + length;
    this.used += length;
    this.held += length;
    this.count += 1;
    return slot;
  }

  /** The bytes in `slot` (a view: valid until clear()). */
  get(slot: number): Uint8Array {
    if (!(slot >= 0 && slot < this.count)) throw new RangeError(`no bytes in slot ${slot}`);
    return this.pages[this.page[slot]].subarray(this.start[slot], this.end[slot]);
  }

  /** Lets go of everything (slots are not reused: get() on an old slot throws). */
  clear(): void {
    this.pages = [];
    this.used = 0;
    this.held = 0;
    this.count = 0;
  }

  private growSlots(): void {
    const grow = (from: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> => {
      const to = new Uint32Array(from.length * 2);
      to.set(from);
      return to;
    };
    this.page = grow(this.page);
    this.start = grow(this.start);
    this.end = grow(this.end);
  }
}

const PAGE_SIZE = 1024 * 1024;
