import { hostname } from 'node:os';
import { gatewayShape, loadGatewayConfig, loadPlatformConfig, platformShape, workerName } from './platform.config';
import { redactConfig } from './env.loader';

describe('configuration from the environment', () => {
  it('works with nothing set', () => {
    expect(loadGatewayConfig({})).toMatchObject({ port: 8443, plainHttp: false });
    expect(loadPlatformConfig({})).toMatchObject({ dataDir: './data', databaseUrl: undefined, scopeAllow: '127.0.0.0/8, ::1/128' });
  });

  it('names the process after its host by default, the same across restarts, and a worker after its host and site', () => {
    expect(loadPlatformConfig({})).toMatchObject({ instance: hostname(), instanceNamed: false });
    expect(workerName(loadPlatformConfig({}), 'hq')).toBe(`${hostname()}/hq`);
    expect(workerName(loadPlatformConfig({}), '*')).toBe(`${hostname()}/*`);
    const named = loadPlatformConfig({ PORTOLAN_INSTANCE: 'scanner-2' });
    expect(named).toMatchObject({ instance: 'scanner-2', instanceNamed: true });
    expect(workerName(named, 'hq')).toBe('scanner-2');
  });

  it('fails fast naming every bad variable', () => {
    expect(() => loadGatewayConfig({ GATEWAY_PORT: '70000', GATEWAY_PLAIN_HTTP: 'maybe' })).toThrow(/GATEWAY_PORT.*"70000".*GATEWAY_PLAIN_HTTP/);
  });

  it('never echoes a secret value in an error or a printed config', () => {
    let message = '';
    try {
      loadPlatformConfig({ DATABASE_URL: 'mysql://u:hunter2@db/x' });
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).not.toMatch(/hunter2/);
    const config = loadPlatformConfig({ DATABASE_URL: 'postgres://u:hunter2@db/x' });
    expect(JSON.stringify(redactConfig(platformShape, config))).not.toMatch(/hunter2/);
    expect(redactConfig(gatewayShape, loadGatewayConfig({}))['port']).toBe(8443);
  });
});
