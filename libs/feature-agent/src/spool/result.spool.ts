import { chmod, mkdir, open, readdir, readFile, rename, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { errorCode, ignoreEnoent, TMP_SUFFIX, unlinkIfExists, writeDurably } from './durable-fs';
import { holderState, LOCK_TIMING, LockTiming, lockText, readLock } from './spool-lock';
import {
  decodeEntry,
  encodeEntry,
  entryFileName,
  entryInputProblem,
  MAX_SEQ,
  parseEntryFileName,
  type DecodeResult,
  type SpoolEntry,
} from './spool-entry.codec';

export type { SpoolEntry } from './spool-entry.codec';

export interface SpoolLimits {
  maxEntries: number;
  /** Bound on the entry files on disk (header + body), not only the bodies. */
  maxBytes: number;
}

/** `dropped` and `corrupt` count what this instance dropped or moved aside since `open()`. */
export interface SpoolDepth {
  entries: number;
  bytes: number;
  dropped: number;
  corrupt: number;
}

export type SpoolLog = (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;

export type SpoolErrorCode = 'spool_locked' | 'spool_not_open' | 'entry_too_large' | 'invalid_entry' | 'invalid_limits';

export class SpoolError extends Error {
  constructor(
    readonly code: SpoolErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SpoolError';
  }
}

const LOCK_FILE = 'lock';
const SEQ_FILE = 'seq';
const CORRUPT_DIR = 'corrupt';

/**
 * Bounded, crash-safe, ordered on-disk queue of results the agent could not upload yet.
 *
 * One file per entry, written to `<name>.tmp`, fsync'd, renamed, directory fsync'd, so a crash
 * leaves either no entry or a complete one. Seq numbers never go back: the next seq is the
 * larger of the persisted `seq` file and the newest entry + 1, and the `seq` file is brought up
 * to date before the newest entry is deleted. Removals are not fsync'd: an entry that comes back
 * after a power cut is uploaded again with the same idempotency key and the hub dedupes it.
 *
 * Every disk mutation (and `peek`, which may move a corrupt entry aside) runs on one promise
 * chain, so the scan loop and the upload loop may call in freely. One process per directory,
 * enforced by `<dir>/lock`.
 */
export class ResultSpool {
  private readonly index: { seq: number; bytes: number; ref?: string }[] = []; // ascending seq
  /** How many entries hold each `ref`. */
  private readonly refs = new Map<string, number>();
  private bytes = 0;
  private dropped = 0;
  private corrupt = 0;
  private nextSeq = 1;
  private persistedNextSeq = 0;
  private state: 'new' | 'open' | 'closed' = 'new';
  private chain: Promise<unknown> = Promise.resolve();
  private lockRefresh?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly limits: SpoolLimits,
    private readonly log: SpoolLog = () => undefined,
    private readonly lockTiming: LockTiming = LOCK_TIMING,
  ) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new SpoolError('invalid_limits', `spool limit ${name} must be a positive integer, got ${value}`);
      }
    }
  }

  open(): Promise<void> {
    return this.serialized(async () => {
      if (this.state !== 'new') throw new SpoolError('spool_not_open', 'a ResultSpool instance can be opened once');
      await mkdir(join(this.dir, CORRUPT_DIR), { recursive: true, mode: 0o700 });
      await chmod(this.dir, 0o700).catch((error: unknown) =>
        this.log('warn', 'could not restrict spool directory mode to 0700', { dir: this.dir, code: errorCode(error) }),
      );
      await this.acquireLock();
      try {
        await this.recover();
      } catch (error) {
        await this.releaseLock();
        throw error;
      }
      this.state = 'open';
      const { entries, bytes } = this.depth();
      this.log('info', 'spool opened', { dir: this.dir, entries, bytes, nextSeq: this.nextSeq });
    });
  }

  /** Durable on return. May drop the oldest entries to stay within the limits. */
  append(input: { idempotencyKey: string; kind: string; ref?: string; body: Buffer }): Promise<SpoolEntry> {
    return this.serialized(async () => {
      this.assertOpen();
      const problem = entryInputProblem(input);
      if (problem) throw new SpoolError('invalid_entry', problem);
      const entry: SpoolEntry = {
        seq: this.nextSeq,
        idempotencyKey: input.idempotencyKey,
        createdAt: new Date().toISOString(),
        kind: input.kind,
        ...(input.ref === undefined ? {} : { ref: input.ref }),
        body: input.body,
      };
      const file = encodeEntry(entry);
      if (file.length > this.limits.maxBytes) {
        throw new SpoolError(
          'entry_too_large',
          `spool entry of ${file.length} bytes (body ${input.body.length} bytes) exceeds the spool limit of ${this.limits.maxBytes} bytes (maxBytes)`,
          { size: file.length, bodyLength: input.body.length, maxBytes: this.limits.maxBytes },
        );
      }
      if (entry.seq > MAX_SEQ) throw new SpoolError('invalid_entry', `spool seq exhausted at ${MAX_SEQ}`);
      this.nextSeq += 1;
      await writeDurably(this.dir, entryFileName(entry.seq), file);
      this.indexEntry({ seq: entry.seq, bytes: file.length, ref: entry.ref });
      await this.enforceLimits();
      return entry;
    });
  }

  /** The oldest entry, read and verified from disk; corrupt ones are moved aside and skipped. */
  peek(): Promise<SpoolEntry | undefined> {
    return this.serialized(async () => {
      this.assertOpen();
      for (let head = this.index[0]; head !== undefined; head = this.index[0]) {
        const read = await this.readEntry(head.seq);
        if (read === undefined) {
          this.log('warn', 'spool entry vanished from disk', { seq: head.seq });
          this.unindex(head.seq);
        } else if (!read.decoded.ok) {
          await this.moveCorrupt(head.seq, read.decoded.reason);
        } else {
          return read.decoded.entry;
        }
      }
      return undefined;
    });
  }

  /** After a successful upload. Removing an unknown or already removed seq is a no-op. */
  remove(seq: number): Promise<void> {
    return this.serialized(async () => {
      this.assertOpen();
      if (this.index.some((e) => e.seq === seq)) await this.deleteEntry(seq);
    });
  }

  /**
   * Deletes every entry (results that must not be uploaded: taken under an identity this process
   * no longer has). Returns how many there were. They are not counted as dropped.
   */
  discardAll(): Promise<number> {
    return this.serialized(async () => {
      this.assertOpen();
      const count = this.index.length;
      // Newest first: the `seq` file is written once, before the newest leaves the directory.
      for (let newest = this.index.at(-1); newest !== undefined; newest = this.index.at(-1)) await this.deleteEntry(newest.seq);
      return count;
    });
  }

  /** The `ref`s of the entries still to be uploaded. */
  heldRefs(): string[] {
    return [...this.refs.keys()];
  }

  /** Whether an entry spooled with this `ref` (here or by an earlier process) is still to be uploaded. */
  holds(ref: string): boolean {
    return this.refs.has(ref);
  }

  depth(): SpoolDepth {
    return { entries: this.index.length, bytes: this.bytes, dropped: this.dropped, corrupt: this.corrupt };
  }

  /** Waits for pending operations and releases the lock. Idempotent. */
  close(): Promise<void> {
    return this.serialized(async () => {
      if (this.state !== 'open') return;
      this.state = 'closed';
      await this.releaseLock();
    });
  }

  private serialized<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.chain.then(operation);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new SpoolError('spool_not_open', `spool ${this.dir} is ${this.state}, not open`);
  }

  private async recover(): Promise<void> {
    this.index.length = 0;
    this.refs.clear();
    this.bytes = 0;
    const names = await readdir(this.dir);
    for (const name of names.filter((n) => n.endsWith(TMP_SUFFIX))) {
      await unlinkIfExists(join(this.dir, name));
      this.log('info', 'deleted leftover spool temp file', { file: name });
    }
    const seqs = names.flatMap((n) => parseEntryFileName(n) ?? []).sort((a, b) => a - b);
    const persisted = await this.readSeqFile();
    this.persistedNextSeq = persisted ?? 0;
    this.nextSeq = Math.max(persisted ?? 1, (seqs.at(-1) ?? 0) + 1);
    for (const seq of seqs) {
      const read = await this.readEntry(seq);
      if (read === undefined) continue;
      if (!read.decoded.ok) {
        await this.moveCorrupt(seq, read.decoded.reason);
        continue;
      }
      this.indexEntry({ seq, bytes: read.size, ref: read.decoded.entry.ref });
    }
    await this.enforceLimits(); // the limits may have been lowered since the last run
  }

  private async enforceLimits(): Promise<void> {
    const { maxEntries, maxBytes } = this.limits;
    const seqs: number[] = [];
    for (let oldest = this.index[0]; oldest !== undefined; oldest = this.index[0]) {
      if (this.index.length <= maxEntries && this.bytes <= maxBytes) break;
      await this.deleteEntry(oldest.seq);
      seqs.push(oldest.seq);
    }
    if (seqs.length === 0) return;
    this.dropped += seqs.length;
    this.log('warn', 'spool full: dropped oldest entries', { count: seqs.length, seqs, maxEntries, maxBytes });
  }

  /** `undefined` when the file is gone; I/O errors other than that propagate (retry later). */
  private async readEntry(seq: number): Promise<{ decoded: DecodeResult; size: number } | undefined> {
    const file = await readFile(join(this.dir, entryFileName(seq))).catch(ignoreEnoent);
    return file && { decoded: decodeEntry(file, seq), size: file.length };
  }

  private async moveCorrupt(seq: number, reason: string): Promise<void> {
    const name = entryFileName(seq);
    await this.keepSeqAbove(seq);
    await rename(join(this.dir, name), join(this.dir, CORRUPT_DIR, name)).catch(ignoreEnoent);
    this.unindex(seq);
    this.corrupt += 1;
    this.log('warn', 'corrupt spool entry moved aside', { seq, file: join(CORRUPT_DIR, name), reason });
  }

  private async deleteEntry(seq: number): Promise<void> {
    await this.keepSeqAbove(seq);
    await unlinkIfExists(join(this.dir, entryFileName(seq)));
    this.unindex(seq);
  }

  private indexEntry(entry: { seq: number; bytes: number; ref?: string }): void {
    this.index.push(entry);
    this.bytes += entry.bytes;
    if (entry.ref !== undefined) this.refs.set(entry.ref, (this.refs.get(entry.ref) ?? 0) + 1);
  }

  private unindex(seq: number): void {
    const at = this.index.findIndex((e) => e.seq === seq);
    if (at < 0) return;
    const [gone] = this.index.splice(at, 1);
    this.bytes -= gone.bytes;
    if (gone.ref === undefined) return;
    const left = (this.refs.get(gone.ref) ?? 1) - 1;
    if (left > 0) this.refs.set(gone.ref, left);
    else this.refs.delete(gone.ref);
  }

  /** Before the newest entry leaves the directory, the `seq` file must remember its successor. */
  private async keepSeqAbove(seq: number): Promise<void> {
    if (seq !== this.nextSeq - 1 || this.persistedNextSeq >= this.nextSeq) return;
    await writeDurably(this.dir, SEQ_FILE, Buffer.from(`${this.nextSeq}\n`));
    this.persistedNextSeq = this.nextSeq;
  }

  private async readSeqFile(): Promise<number | undefined> {
    const text = await readFile(join(this.dir, SEQ_FILE), 'utf8').catch(ignoreEnoent);
    if (text === undefined) return undefined;
    if (/^\d{1,15}\n?$/.test(text)) return Number(text.trim());
    this.log('warn', 'spool seq file unreadable, deriving the next seq from the entries', { dir: this.dir });
    return undefined;
  }

  /**
   * `wx` create holding our pid (with this boot of the machine and our start time,
   * `spool-lock.ts`); a lock whose holder is no longer running is taken over: its pid gone, or
   * written before a reboot, on another machine (a cloned image), or by an earlier process with
   * the same pid (a restarted container). Two agents starting at
   * the same instant over one stale lock could both win; one agent per directory is a deployment
   * rule, the lock catches the misconfiguration, it is not a distributed mutex.
   */
  private async acquireLock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, 'wx', 0o600);
        try {
          await handle.writeFile(lockText());
          await handle.sync();
        } finally {
          await handle.close();
        }
        // Touched while held: a holder whose pid cannot be checked from here (another container) is judged by that.
        this.lockRefresh = setInterval(() => {
          const now = new Date();
          void utimes(path, now, now).catch((error: unknown) => this.log('warn', 'could not touch the spool lock', { dir: this.dir, code: errorCode(error) }));
        }, this.lockTiming.refreshMs);
        this.lockRefresh.unref();
        return;
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
      }
      let lock = await readLock(path);
      const { staleMs } = this.lockTiming;
      if (lock !== undefined && holderState(lock.holder, lock.touchedAtMs, undefined, staleMs) === 'elsewhere') {
        // Another container's agent, or this container's before it restarted: running only if it touches the lock again.
        const waitMs = Math.max(0, Math.min(staleMs, lock.touchedAtMs + staleMs - Date.now())) + Math.min(500, staleMs);
        this.log('info', 'spool lock held from another pid namespace; waiting to see whether its holder still touches it', { dir: this.dir, waitMs });
        await new Promise((resolve) => setTimeout(resolve, waitMs));
        lock = await readLock(path);
      }
      if (lock !== undefined && holderState(lock.holder, lock.touchedAtMs, undefined, staleMs) !== 'stale') {
        throw new SpoolError(
          'spool_locked',
          `spool directory ${this.dir} is in use by another agent (pid ${lock.holder.pid}); only one agent may use a spool directory`,
          { dir: this.dir, pid: lock.holder.pid },
        );
      }
      this.log('warn', 'taking over stale spool lock', { dir: this.dir, stalePid: lock?.holder.pid });
      await unlinkIfExists(path);
    }
    throw new SpoolError('spool_locked', `could not take the spool lock ${path}`, { dir: this.dir });
  }

  private async releaseLock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    clearInterval(this.lockRefresh);
    if ((await readLock(path))?.holder.pid === process.pid) await unlinkIfExists(path);
  }
}

/** What a spool directory holds, read without opening it (`portolan-agent status`, beside a running agent). */
export interface SpoolInspection {
  readonly entries: number;
  readonly bytes: number;
  /** The process holding the spool's lock, and whether it still runs; null when none does. */
  readonly lockedBy: { readonly pid: number; readonly running: boolean } | null;
}

/** Counts a spool directory's entries and reads its lock, changing nothing (a missing directory holds nothing). */
export async function inspectSpool(dir: string): Promise<SpoolInspection> {
  const names = await readdir(dir).catch(ignoreEnoent);
  let entries = 0;
  let bytes = 0;
  for (const name of names ?? []) {
    if (parseEntryFileName(name) === undefined) continue;
    const size = (await stat(join(dir, name)).catch(ignoreEnoent))?.size;
    if (size === undefined) continue; // uploaded and removed meanwhile
    entries += 1;
    bytes += size;
  }
  const lock = await readLock(join(dir, LOCK_FILE));
  return { entries, bytes, lockedBy: lock ? { pid: lock.holder.pid, running: holderState(lock.holder, lock.touchedAtMs) !== 'stale' } : null };
}
