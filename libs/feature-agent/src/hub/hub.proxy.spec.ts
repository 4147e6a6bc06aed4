import { DomainError } from '@portolan/contracts';
import { parseHubProxy } from './hub.proxy';

const refusal = (value: string): DomainError => {
  try {
    parseHubProxy(value);
  } catch (error) {
    return error as DomainError;
  }
  throw new Error(`${value} was taken`);
};

describe('parseHubProxy', () => {
  it('reads host, port and the Basic authorization of a user and password, naming the proxy without them', () => {
    expect(parseHubProxy('http://agent:s3cret@proxy.corp.example:8080')).toEqual({
      host: 'proxy.corp.example',
      port: 8080,
      authorization: `Basic ${Buffer.from('agent:s3cret').toString('base64')}`,
      label: 'http://proxy.corp.example:8080',
    });
  });

  it("takes Squid's port when none is given, no authorization without a user, IPv6 addresses and escaped characters", () => {
    expect(parseHubProxy('http://proxy.corp.example')).toEqual({ host: 'proxy.corp.example', port: 3128, authorization: undefined, label: 'http://proxy.corp.example:3128' });
    expect(parseHubProxy('http://[fd00::3]:3128/')).toMatchObject({ host: 'fd00::3', port: 3128, label: 'http://[fd00::3]:3128' });
    expect(parseHubProxy('http://agent:s3cret@proxy.corp.example:80').port).toBe(80);
    expect(parseHubProxy('http://[fd00::3]:80').port).toBe(80);
    expect(parseHubProxy('http://CORP%5Cagent:p%40ss%3Aword@127.0.0.1:8080').authorization).toBe(`Basic ${Buffer.from('CORP\\agent:p@ss:word').toString('base64')}`);
  });

  it.each([
    ['not a URL', 'http://agent:s3cret@proxy:99999', /hubProxy is not a URL/],
    ['a host and port without the scheme', 'agent:s3cret@proxy.corp.example:3128', /hubProxy must be the http:\/\/ URL of a proxy that tunnels with CONNECT/],
    ['an https:// proxy', 'https://agent:s3cret@proxy.corp.example:443', /https:\/\/ and SOCKS proxies are not supported/],
    ['a SOCKS proxy', 'socks5://agent:s3cret@proxy.corp.example:1080', /https:\/\/ and SOCKS proxies are not supported/],
    ['a path', 'http://agent:s3cret@proxy.corp.example:3128/proxy.pac', /no path, query or fragment/],
    ['a malformed escape', 'http://agent:s3cret%zz@proxy.corp.example:3128', /malformed %-escape/],
  ])('refuses %s with invalid_config, never quoting the value', (_what, value, message) => {
    const error = refusal(value);
    expect(error.code).toBe('invalid_config');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('s3cret');
  });
});
