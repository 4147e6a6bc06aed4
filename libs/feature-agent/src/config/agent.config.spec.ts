import { isDomainError } from '@portolan/contracts';
import { loadAgentSettings } from './agent.config';

const fp = (byte: string) => Array.from({ length: 32 }, () => byte).join(':');
const env = (extra: Record<string, string>) => ({ PORTOLAN_HUB_URL: 'https://127.0.0.1:8443/api/', ...extra });

describe('agent settings: hub certificate pins', () => {
  it('takes one pin, or several separated by commas or spaces, upper-cased', () => {
    expect(loadAgentSettings({ env: env({ PORTOLAN_HUB_PIN_SHA256: fp('ab') }) }).pinSha256).toEqual([fp('AB')]);
    expect(loadAgentSettings({ env: env({ PORTOLAN_HUB_PIN_SHA256: ` ${fp('AA')}, ${fp('BB')}  ${fp('CC')} ` }) }).pinSha256).toEqual([fp('AA'), fp('BB'), fp('CC')]);
  });

  it('names the pin that is not a SHA-256 fingerprint', () => {
    let caught: unknown;
    try {
      loadAgentSettings({ env: env({ PORTOLAN_HUB_PIN_SHA256: `${fp('AA')},AA:BB` }) });
    } catch (error) {
      caught = error;
    }
    expect(isDomainError(caught) && caught.code).toBe('invalid_config');
    expect((caught as Error).message).toContain('pinSha256.1: a SHA-256 certificate fingerprint is 32 hex pairs');
  });

  it('refuses pins together with a CA file', () => {
    expect(() => loadAgentSettings({ env: env({ PORTOLAN_HUB_PIN_SHA256: fp('AA'), PORTOLAN_HUB_CA_FILE: '/etc/hub-ca.pem' }) })).toThrow('set either caFile or pinSha256, not both');
  });
});

describe('agent settings: the proxy to the hub', () => {
  it('takes PORTOLAN_HUB_PROXY', () => {
    expect(loadAgentSettings({ env: env({ PORTOLAN_HUB_PROXY: 'http://agent:s3cret@proxy.corp.example:8080' }) }).hubProxy).toBe('http://agent:s3cret@proxy.corp.example:8080');
  });

  it('refuses a proxy it cannot use when the agent starts, naming the setting and not the password', () => {
    let caught: unknown;
    try {
      loadAgentSettings({ env: env({ PORTOLAN_HUB_PROXY: 'https://agent:s3cret@proxy.corp.example:8443' }) });
    } catch (error) {
      caught = error;
    }
    expect(isDomainError(caught) && caught.code).toBe('invalid_config');
    expect((caught as Error).message).toMatch(/^hubProxy must be the http:\/\/ URL of a proxy/);
    expect((caught as Error).message).not.toContain('s3cret');
  });
});

describe('agent settings: how often a scan reports its progress', () => {
  it('is every 15 s unless PORTOLAN_AGENT_PROGRESS_SECONDS says otherwise', () => {
    expect(loadAgentSettings({ env: env({}) }).progressSeconds).toBe(15);
    expect(loadAgentSettings({ env: env({ PORTOLAN_AGENT_PROGRESS_SECONDS: '60' }) }).progressSeconds).toBe(60);
  });

  it('refuses a period that is not a whole number of seconds from 1, naming the setting', () => {
    for (const value of ['0', '2.5', 'often']) expect(() => loadAgentSettings({ env: env({ PORTOLAN_AGENT_PROGRESS_SECONDS: value }) })).toThrow(/invalid agent configuration.*progressSeconds: /);
  });
});
