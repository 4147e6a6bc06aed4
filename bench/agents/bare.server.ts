/**
 * The reference: a bare Node HTTPS server with the gateway's own certificate, answering the two
 * agent routes the bench calls with fixed JSON and no framework, no authentication, no database.
 *
 *   GET  /api/agent/jobs?wait=N...  → 200 {"configVersion":1,"jobs":[]}, after N seconds when N > 0
 *   POST /api/agent/results         → reads the body, gunzips it, JSON.parse, 202 {jobId, duplicate:false}
 *   POST /api/agent/scans           → reads the body, JSON.parse, 202 {jobId}
 *
 * Started by run.ts as its own process: BARE_PORT, BARE_KEY_FILE, BARE_CERT_FILE. Listens on
 * 127.0.0.1 only and prints one "bare listening" line.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { gunzipSync } from 'node:zlib';

const POLL_ANSWER = JSON.stringify({ configVersion: 1, jobs: [] });
const MAX_BODY = 4 * 1024 * 1024;
const MAX_WAIT_S = 30;

const port = Number(process.env['BARE_PORT']);
const key = readFileSync(String(process.env['BARE_KEY_FILE']));
const cert = readFileSync(String(process.env['BARE_CERT_FILE']));

const server = createServer({ key, cert }, (request, response) => {
  const url = request.url ?? '';
  const send = (status: number, body: string) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  };
  if (request.method === 'GET' && url.startsWith('/api/agent/jobs')) {
    const wait = Math.min(MAX_WAIT_S, Number(/[?&]wait=(\d+)/.exec(url)?.[1] ?? 0));
    if (wait === 0) return send(200, POLL_ANSWER);
    const timer = setTimeout(() => send(200, POLL_ANSWER), wait * 1000);
    request.socket.once('close', () => clearTimeout(timer));
    return;
  }
  const scans = request.method === 'POST' && url.startsWith('/api/agent/scans');
  if (scans || (request.method === 'POST' && url.startsWith('/api/agent/results'))) {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_BODY) return send(413, '{"error":{"code":"too_large"}}');
      try {
        // Inflated in this thread, as the gateway does (cheaper than the thread pool for small bodies).
        const raw = Buffer.concat(chunks);
        const inflated = request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw, { maxOutputLength: 8 * MAX_BODY }) : raw;
        const result = JSON.parse(inflated.toString('utf8')) as { jobId?: string };
        send(202, JSON.stringify(scans ? { jobId: result.jobId } : { jobId: result.jobId, duplicate: false }));
      } catch (error) {
        send(400, JSON.stringify({ error: { code: 'invalid_payload', message: String(error) } }));
      }
    });
    return;
  }
  send(404, '{"error":{"code":"not_found"}}');
});

server.listen(port, '127.0.0.1', () => process.stdout.write(`bare listening on 127.0.0.1:${port}\n`));
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
