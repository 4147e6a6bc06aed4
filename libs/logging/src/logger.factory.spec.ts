import { Writable } from 'node:stream';
import pino from 'pino';
import { createLogger, REDACTED_PATHS, redactUrl } from './logger.factory';

describe('logging', () => {
  it('redacts secrets in log fields', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    logger.info({ credential: { password: 'hunter2' }, token: 'abc', host: '127.0.0.1' }, 'connected');
    expect(lines.join('')).not.toMatch(/hunter2|"abc"/);
    expect(lines.join('')).toMatch(/127\.0\.0\.1/);
  });

  it('tells processes that share an instance name (the host name, by default) apart by their pid', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    createLogger({ service: 'scanner', version: '1.2.3', level: 'info', instance: 'host-a' }, sink).info('started');
    expect(JSON.parse(lines[0])).toMatchObject({ service: 'scanner', version: '1.2.3', instance: 'host-a', pid: process.pid, msg: 'started' });
  });

  it('removes the password from connection URLs', () => {
    expect(redactUrl('postgres://u:hunter2@127.0.0.1:5432/db')).toBe('postgres://u:redacted@127.0.0.1:5432/db');
  });
});
