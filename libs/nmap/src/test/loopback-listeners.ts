/**
 * TCP listeners on loopback addresses for integration scans. Ports are picked from a small
 * range (shuffled, skipping ports in use) and every listener is bound to one explicit address.
 */
import { createServer, type Server } from 'node:net';

export interface LoopbackListeners {
  /** address -> ports listening there, ascending */
  ports: Map<string, number[]>;
  close(): Promise<void>;
}

function listen(server: Server, address: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: address, port, exclusive: true });
  });
}

export async function openLoopbackListeners(
  plan: { address: string; count: number }[],
  range = { from: 40000, to: 40100 },
): Promise<LoopbackListeners> {
  for (const { address } of plan) {
    if (!address.startsWith('127.') && address !== '::1') throw new Error(`refusing to listen on ${address}`);
  }
  const candidates = Array.from({ length: range.to - range.from + 1 }, (_, i) => range.from + i);
  for (let i = candidates.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  const servers: Server[] = [];
  const ports = new Map<string, number[]>();
  for (const { address, count } of plan) {
    const taken: number[] = [];
    while (taken.length < count) {
      const port = candidates.shift();
      if (port === undefined) throw new Error(`no free port left in ${range.from}-${range.to}`);
      const server = createServer((socket) => socket.destroy());
      if (await listen(server, address, port)) {
        servers.push(server);
        taken.push(port);
      }
    }
    ports.set(address, taken.sort((a, b) => a - b));
  }
  return {
    ports,
    close: async () => {
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}
