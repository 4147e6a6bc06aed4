import { createHash } from 'node:crypto';

/**
 * On-disk format of one spool entry, pure (no I/O) so it is cheap to test:
 *
 *   "PSPL1" | uint32 BE header length | 8 bytes: sha256(JSON header) prefix | JSON header | body
 *
 * The JSON header holds {seq, idempotencyKey, createdAt, kind, bodyLength, sha256 of body} and,
 * when the caller gave one, `ref`: what the entry is the result of (an agent run's job id), so a
 * process started later knows what its spool already holds without reading the bodies. The
 * body is the gzip'd upload, opaque here. The body hash catches bit rot and torn files; the header
 * hash catches a flipped byte inside the header, which would otherwise still parse as JSON and
 * could, say, change the idempotency key the hub dedupes on.
 */
export interface SpoolEntry {
  seq: number;
  idempotencyKey: string;
  createdAt: string;
  kind: string;
  /** What the entry is a result of (a job id), if the caller said. */
  ref?: string;
  /** The gzip'd upload, opaque to the spool. */
  body: Buffer;
}

export type DecodeResult = { ok: true; entry: SpoolEntry } | { ok: false; reason: string };

export const SPOOL_MAGIC = Buffer.from('PSPL1', 'ascii');
export const MAX_SEQ = 999_999_999_999;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
export const MAX_KIND_LENGTH = 64;
export const MAX_REF_LENGTH = 256;

const HEADER_HASH_LENGTH = 8;
const PREFIX_LENGTH = SPOOL_MAGIC.length + 4 + HEADER_HASH_LENGTH;
const MAX_HEADER_LENGTH = 16 * 1024;
const SEQ_DIGITS = 12;
const ENTRY_NAME = /^(\d{12})\.entry$/;

interface SpoolHeader {
  seq: number;
  idempotencyKey: string;
  createdAt: string;
  kind: string;
  ref?: string;
  bodyLength: number;
  sha256: string;
}

/** `42` → `000000000042.entry`: lexical order of the names is seq order. */
export function entryFileName(seq: number): string {
  return `${String(seq).padStart(SEQ_DIGITS, '0')}.entry`;
}

export function parseEntryFileName(name: string): number | undefined {
  const match = ENTRY_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

export function encodeEntry(entry: SpoolEntry): Buffer {
  const header: SpoolHeader = {
    seq: entry.seq,
    idempotencyKey: entry.idempotencyKey,
    createdAt: entry.createdAt,
    kind: entry.kind,
    ...(entry.ref === undefined ? {} : { ref: entry.ref }),
    bodyLength: entry.body.length,
    sha256: sha256Hex(entry.body),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_LENGTH);
  SPOOL_MAGIC.copy(prefix);
  prefix.writeUInt32BE(json.length, SPOOL_MAGIC.length);
  headerHash(json).copy(prefix, SPOOL_MAGIC.length + 4);
  return Buffer.concat([prefix, json, entry.body]);
}

/** Verifies everything it can; `expectedSeq` (from the file name) must match the header. */
export function decodeEntry(file: Buffer, expectedSeq?: number): DecodeResult {
  if (file.length < PREFIX_LENGTH) return fail(`short file (${file.length} bytes)`);
  if (!file.subarray(0, SPOOL_MAGIC.length).equals(SPOOL_MAGIC)) return fail('bad magic');
  const headerLength = file.readUInt32BE(SPOOL_MAGIC.length);
  if (headerLength > MAX_HEADER_LENGTH || PREFIX_LENGTH + headerLength > file.length) {
    return fail(`header length ${headerLength} out of range for a ${file.length}-byte file`);
  }
  const json = file.subarray(PREFIX_LENGTH, PREFIX_LENGTH + headerLength);
  if (!headerHash(json).equals(file.subarray(SPOOL_MAGIC.length + 4, PREFIX_LENGTH))) return fail('header checksum mismatch');
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString('utf8'));
  } catch {
    return fail('header is not valid JSON');
  }
  const header = parseHeader(raw);
  if (typeof header === 'string') return fail(header);
  if (expectedSeq !== undefined && header.seq !== expectedSeq) {
    return fail(`header seq ${header.seq} does not match file name seq ${expectedSeq}`);
  }
  const body = file.subarray(PREFIX_LENGTH + headerLength);
  if (body.length !== header.bodyLength) {
    return fail(`body is ${body.length} bytes, header says ${header.bodyLength}`);
  }
  if (sha256Hex(body) !== header.sha256) return fail('body checksum mismatch');
  const { seq, idempotencyKey, createdAt, kind, ref } = header;
  return { ok: true, entry: { seq, idempotencyKey, createdAt, kind, ...(ref === undefined ? {} : { ref }), body } };
}

/** Why a caller's entry cannot be spooled, or `undefined` when it can. */
export function entryInputProblem(input: { idempotencyKey: unknown; kind: unknown; ref?: unknown; body: unknown }): string | undefined {
  if (!isText(input.idempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH)) {
    return `idempotencyKey must be a string of 1..${MAX_IDEMPOTENCY_KEY_LENGTH} characters`;
  }
  if (input.ref !== undefined && !isText(input.ref, MAX_REF_LENGTH)) return `ref must be a string of 1..${MAX_REF_LENGTH} characters when given`;
  if (!isText(input.kind, MAX_KIND_LENGTH)) return `kind must be a string of 1..${MAX_KIND_LENGTH} characters`;
  if (!Buffer.isBuffer(input.body)) return 'body must be a Buffer';
  return undefined;
}

function parseHeader(raw: unknown): SpoolHeader | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'header is not an object';
  const h = raw as Record<string, unknown>;
  if (!isCount(h.seq) || h.seq < 1 || h.seq > MAX_SEQ) return 'header seq invalid';
  if (!isText(h.idempotencyKey, MAX_IDEMPOTENCY_KEY_LENGTH)) return 'header idempotencyKey invalid';
  if (!isText(h.createdAt, 64) || Number.isNaN(Date.parse(h.createdAt))) return 'header createdAt invalid';
  if (!isText(h.kind, MAX_KIND_LENGTH)) return 'header kind invalid';
  if (h.ref !== undefined && !isText(h.ref, MAX_REF_LENGTH)) return 'header ref invalid';
  if (!isCount(h.bodyLength)) return 'header bodyLength invalid';
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256)) return 'header sha256 invalid';
  return {
    seq: h.seq,
    idempotencyKey: h.idempotencyKey,
    createdAt: h.createdAt,
    kind: h.kind,
    ...(h.ref === undefined ? {} : { ref: h.ref }),
    bodyLength: h.bodyLength,
    sha256: h.sha256,
  };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isText(value: unknown, maxLength: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength;
}

function headerHash(json: Buffer): Buffer {
  return createHash('sha256').update(json).digest().subarray(0, HEADER_HASH_LENGTH);
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function fail(reason: string): DecodeResult {
  return { ok: false, reason };
}
