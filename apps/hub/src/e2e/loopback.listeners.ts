import { createServer, Server } from 'node:net';

/**
 * TCP listeners on 127.0.0.x addresses that stand in for hosts with open ports. A test whose
 * readout lists every socket of this machine (a self-scan, `ss` over SSH) opens them below the
 * ephemeral range (32768-60999) and tracks only such ports: there no port handed out at random
 * (the hub's `freePort`, an emulator's) can land among the test's own.
 */
export class LoopbackListeners {
  private readonly servers = new Map<string, Server>();

  async open(host: string, port: number): Promise<void> {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => resolve());
    });
    this.servers.set(`${host}:${port}`, server);
  }

  async close(host: string, port: number): Promise<void> {
    const server = this.servers.get(`${host}:${port}`);
    if (!server) return;
    this.servers.delete(`${host}:${port}`);
    await new Promise((resolve) => server.close(resolve));
  }

  async closeAll(): Promise<void> {
    for (const key of [...this.servers.keys()]) {
      const [host, port] = key.split(':');
      await this.close(host, Number(port));
    }
  }
}
