import { Socket } from 'node:net';
import { scanFailed } from './scan-failure';

export interface ProbeResult {
  state: 'open' | 'closed' | 'filtered';
  reason: string;
}

export interface Probe {
  /** Resolves with the answer, or null when cancelled; rejects only for local resource errors. */
  result: Promise<ProbeResult | null>;
  cancel(): void;
}

/** Errors that say this machine ran out of something: every later probe would fail the same way. */
const LOCAL_RESOURCE_ERRORS = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'EADDRNOTAVAIL', 'ENOMEM']);

const ERROR_ANSWERS: Record<string, ProbeResult> = {
  ECONNREFUSED: { state: 'closed', reason: 'conn-refused' },
  ECONNRESET: { state: 'closed', reason: 'reset' },
  ETIMEDOUT: { state: 'filtered', reason: 'no-response' },
  EHOSTUNREACH: { state: 'filtered', reason: 'host-unreach' },
  ENETUNREACH: { state: 'filtered', reason: 'net-unreach' },
  EACCES: { state: 'filtered', reason: 'admin-prohibited' },
  EPERM: { state: 'filtered', reason: 'admin-prohibited' },
};

/** One TCP connect() to address:port, closed again as soon as it is answered. */
export function probeTcp(address: string, port: number, timeoutMs: number): Probe {
  const socket = new Socket();
  let finish: (value: ProbeResult | null) => void = () => undefined;
  const result = new Promise<ProbeResult | null>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => finish({ state: 'filtered', reason: 'no-response' }), timeoutMs);
    const settle = (action: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      action();
    };
    finish = (value) => settle(() => resolve(value));
    socket.once('connect', () => finish({ state: 'open', reason: 'syn-ack' }));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'UNKNOWN';
      if (LOCAL_RESOURCE_ERRORS.has(code)) {
        const message = `Connect scan ran out of local resources (${code}); lower its concurrency`;
        settle(() => reject(scanFailed('local_resources', message, { code })));
        return;
      }
      finish(ERROR_ANSWERS[code] ?? { state: 'filtered', reason: `error-${code.toLowerCase()}` });
    });
    socket.connect({ host: address, port });
  });
  return { result, cancel: () => finish(null) };
}
