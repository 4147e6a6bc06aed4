import { request } from 'node:http';
import { isIPv6, Socket } from 'node:net';
import { DomainError } from '@portolan/contracts';

/** `host:port` as a CONNECT request names it (an IPv6 address in brackets). */
const authority = (host: string, port: number) => `${isIPv6(host) ? `[${host}]` : host}:${port}`;

/** An HTTP proxy the agent reaches the hub through (CONNECT), as `hubProxy` configures it. */
export interface HubProxy {
  readonly host: string;
  readonly port: number;
  /** `Basic ...` when the proxy URL carries a user: a secret, never logged. */
  readonly authorization?: string;
  /** `http://host:port`: the proxy as messages name it, without its credentials. */
  readonly label: string;
}

/**
 * The proxy of a `hubProxy` setting, `http://[user[:password]@]host[:port]` (port 3128 when none
 * is given, as Squid's). Only a plain-HTTP proxy that tunnels with CONNECT: the TLS session is
 * the agent's with the hub, end to end, so the hub's certificate is checked (pins, CA) exactly as
 * without a proxy and the proxy sees no request, secret or result. Errors never quote the URL, which
 * may hold a password.
 */
export function parseHubProxy(value: string): HubProxy {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DomainError('invalid_config', 'hubProxy is not a URL (expected http://[user[:password]@]host[:port])');
  }
  if (url.protocol !== 'http:') {
    throw new DomainError('invalid_config', 'hubProxy must be the http:// URL of a proxy that tunnels with CONNECT, http://[user[:password]@]host[:port] (https:// and SOCKS proxies are not supported)');
  }
  if (url.pathname !== '/' || url.search || url.hash) throw new DomainError('invalid_config', 'hubProxy is a proxy address only: no path, query or fragment');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // The port as written: the URL parser drops `:80` as http's default, where 3128 stands for none.
  const written = /^http:\/\/(?:[^@/]*@)?(?:\[[^\]/]*\]|[^:/]*):([0-9]+)\/?$/i.exec(value.trim());
  const port = written ? Number(written[1]) : 3128;
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw new DomainError('invalid_config', 'hubProxy has a user or password with a malformed %-escape');
  }
  const authorization = user ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
  return { host, port, authorization, label: `http://${authority(host, port)}` };
}

/** The proxy refused to open the tunnel, or could not be reached: the hub is unreachable through it. */
export class HubProxyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubProxyError';
  }
}

/**
 * A TCP tunnel to `host:port` through the proxy (HTTP CONNECT), for the TLS session with the hub
 * to run in. Rejects with HubProxyError naming the proxy and its answer (a 407 is a user or
 * password the proxy does not take; a 403 a hub it does not let agents reach).
 */
export function openTunnel(proxy: HubProxy, host: string, port: number, timeoutMs: number): Promise<Socket> {
  const target = authority(host, port);
  return new Promise((resolve, reject) => {
    const connect = request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: target,
      headers: { host: target, ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}) },
      agent: false,
      timeout: timeoutMs,
    });
    connect.once('connect', (answer, socket, head) => {
      if (answer.statusCode !== 200) {
        socket.destroy();
        return reject(new HubProxyError(`the proxy ${proxy.label} answered ${answer.statusCode} ${answer.statusMessage ?? ''} to CONNECT ${target}`.trim()));
      }
      if (head.length) socket.unshift(head);
      // The tunnel is the hub connection's now: idle as long as the connection pool keeps it.
      socket.setTimeout(0);
      socket.removeAllListeners('timeout');
      resolve(socket);
    });
    connect.once('timeout', () => connect.destroy(new HubProxyError(`the proxy ${proxy.label} did not open a tunnel to ${target} within ${timeoutMs} ms`)));
    connect.once('error', (error) => reject(error instanceof HubProxyError ? error : new HubProxyError(`the proxy ${proxy.label} could not be reached: ${error.message}`)));
    connect.end();
  });
}
