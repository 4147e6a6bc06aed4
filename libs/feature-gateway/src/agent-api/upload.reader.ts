import type { IncomingMessage } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DomainError } from '@portolan/contracts';

export interface UploadLimits {
  /** Bytes as sent (compressed when gzip). */
  readonly maxBytes: number;
  /** Bytes once inflated: a guard against a small gzip bomb. */
  readonly maxInflatedBytes: number;
  /** What the body is, for the errors: "result upload" unless said. */
  readonly what?: string;
}

/** An upload's body, read and parsed. */
export interface JsonUpload {
  readonly json: unknown;
  /** The body as the agent sent it, gzip-compressed (compressed here, once, when it was sent plain). */
  gzip(): Buffer;
}

/**
 * Reads an agent upload's body: JSON, gzip-compressed (`Content-Encoding: gzip`) or not, within
 * both limits, and parses it. Every failure names what was wrong; nothing has been stored yet.
 */
export async function readJsonUpload(request: IncomingMessage, limits: UploadLimits): Promise<JsonUpload> {
  const what = limits.what ?? 'result upload';
  const type = String(request.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) throw new DomainError('invalid_payload', `a ${what} is application/json; got "${type.slice(0, 60) || 'no Content-Type'}"`, { field: 'Content-Type' });
  const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'gzip' && encoding !== 'identity') throw new DomainError('invalid_payload', `Content-Encoding "${encoding.slice(0, 40)}" is not supported (use gzip)`, { field: 'Content-Encoding' });
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge(what, declared, limits.maxBytes, 'sent');
  const sent = await readBody(request, what, limits.maxBytes);
  let body = sent;
  if (encoding === 'gzip') {
    try {
      // In this thread: an upload inflates in microseconds (to a few MiB at most, bounded), and
      // the thread pool's hand-offs and stream machinery cost more than that (6% of the CPU at ingest).
      body = gunzipSync(body, { maxOutputLength: limits.maxInflatedBytes });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(what, limits.maxInflatedBytes + 1, limits.maxInflatedBytes, 'inflated');
      throw new DomainError('invalid_payload', `the ${what} is not valid gzip: ${(error as Error).message}`);
    }
  } else if (body.length > limits.maxInflatedBytes) {
    throw tooLarge(what, body.length, limits.maxInflatedBytes, 'inflated');
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new DomainError('invalid_payload', `the ${what} is not valid JSON: ${(error as Error).message}`);
  }
  const plain = body;
  return { json, gzip: encoding === 'gzip' ? () => sent : () => gzipSync(plain, { level: 1 }) };
}

/**
 * The body as sent, within `maxBytes`. Read with the stream's events rather than its async
 * iterator, whose promise per chunk cost more than the read itself at the ingest rate. Past the
 * limit the rest is drained unread, so the 413 can still be answered on the connection.
 */
function readBody(request: IncomingMessage, what: string, maxBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    // Gone while it was being authenticated: its 'close' has been and gone, nothing more will come.
    if (request.destroyed) return reject(new DomainError('invalid_payload', `the ${what} ended before its body was complete`));
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error?: Error) => {
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      finish(tooLarge(what, size, maxBytes, 'sent'));
      request.resume();
    };
    const onEnd = () => finish();
    const onError = (error: Error) => finish(new DomainError('invalid_payload', `the ${what} could not be read: ${error.message}`));
    const onClose = () => finish(new DomainError('invalid_payload', `the ${what} ended before its body was complete`));
    request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

function tooLarge(body: string, size: number, limit: number, how: 'sent' | 'inflated'): DomainError {
  return new DomainError('too_large', `the ${body} is too large: ${how === 'sent' ? 'more than' : 'over'} ${limit} bytes ${how} (got ${how === 'sent' ? size : 'more'})`, { limit });
}
