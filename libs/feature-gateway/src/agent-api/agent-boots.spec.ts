import { AgentHost, hostChanges } from './agent-boots';

describe('hostChanges', () => {
  const host: AgentHost = { hostname: 'web-07', os: { platform: 'linux', release: '6.1.0-13-amd64', description: 'Debian GNU/Linux 12 (bookworm); Linux 6.1.0-13-amd64' } };

  it('finds nothing when the host is as the hub holds it', () => {
    expect(hostChanges(host, { hostname: 'web-07', os: { ...host.os } })).toBeUndefined();
  });

  it('names a renamed host alone', () => {
    expect(hostChanges(host, { ...host, hostname: 'web-07.corp' })).toEqual({ hostname: { from: 'web-07', to: 'web-07.corp' } });
  });

  it('names the whole system before and after when any part of it changed: kernel, distribution, or a description first reported', () => {
    const kernel = { ...host.os, release: '6.1.0-18-amd64' };
    expect(hostChanges(host, { ...host, os: kernel })).toEqual({ os: { from: host.os, to: kernel } });
    const unknown = { ...host.os, description: null };
    expect(hostChanges({ ...host, os: unknown }, host)).toEqual({ os: { from: unknown, to: host.os } });
    expect(hostChanges(host, { ...host, os: unknown })).toEqual({ os: { from: host.os, to: unknown } });
  });

  it('names both when both changed, and tells case apart (host names are compared as reported)', () => {
    const windows = { platform: 'win32', release: '10.0.20348', description: 'Windows Server 2022' };
    expect(hostChanges(host, { hostname: 'WEB-07', os: windows })).toEqual({ hostname: { from: 'web-07', to: 'WEB-07' }, os: { from: host.os, to: windows } });
  });
});
