import { Writable } from 'node:stream';
import pino from 'pino';
import { REDACTED_PATHS, redactUrl } from './logger.factory';

describe('logging', () => {
  it('redacts secrets in log fields', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    logger.info({ credential: { password: 'hunter2' }, token: 'abc', host: '127.0.0.1' }, 'connected');
    expect(lines.join('')).not.toMatch(/hunter2|"abc"/);
    expect(lines.join('')).toMatch(/127\.0\.0\.1/);
  });

  it('removes the password from connection URLs', () => {
    expect(redactUrl('postgres://u:hunter2@127.0.0.1:5432/db')).toBe('postgres://u:redacted@127.0.0.1:5432/db');
  });
});
