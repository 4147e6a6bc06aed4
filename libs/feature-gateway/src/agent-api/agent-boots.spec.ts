import { AgentHost, hostChanges, keptBoot } from './agent-boots';

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

describe('keptBoot', () => {
  const original = { boot: 'b-original', hostname: 'web-07', firstSeenAt: new Date('2026-12-07T08:00:00Z') };
  const clone = { boot: 'b-clone', hostname: 'web-08', firstSeenAt: new Date('2026-12-07T09:00:00Z') };

  it('keeps the identity with the process on the host the agent ran on before them, whichever started first', () => {
    expect(keptBoot([original, clone], 'web-07')).toBe('b-original');
    // The image was made while the original was down: the clone started first, the original after it.
    expect(keptBoot([{ ...clone, firstSeenAt: new Date('2026-12-07T07:00:00Z') }, original], 'web-07')).toBe('b-original');
    // Three processes: the original among two clones.
    expect(keptBoot([clone, { ...clone, boot: 'b-clone-2', hostname: 'web-09' }, original], 'web-07')).toBe('b-original');
  });

  it('keeps it with the process that started first when the host before does not tell them apart', () => {
    expect(keptBoot([clone, original], null)).toBe('b-original');
    expect(keptBoot([clone, original], 'db-01')).toBe('b-original');
    // A clone that was not renamed: both on the host before.
    expect(keptBoot([{ ...clone, hostname: 'web-07' }, original], 'web-07')).toBe('b-original');
    // Hosts not reported (agents before host reports).
    expect(keptBoot([{ ...clone, hostname: null }, { ...original, hostname: null }], null)).toBe('b-original');
  });

  it('hands it to a restart of the process that kept it: on its host, started after its last poll', () => {
    const lastPoll = new Date('2026-12-07T10:00:00Z');
    const restart = { boot: 'b-restart', hostname: 'web-07', firstSeenAt: new Date('2026-12-07T10:01:00Z') };
    expect(keptBoot([clone, restart], 'web-07', lastPoll)).toBe('b-restart');
    // A clone that kept the host name started before the last poll: the restart still wins.
    expect(keptBoot([{ ...clone, hostname: 'web-07' }, restart], 'web-07', lastPoll)).toBe('b-restart');
    // No restart on that host: as before.
    expect(keptBoot([clone, { ...clone, boot: 'b-clone-2', hostname: 'web-09', firstSeenAt: lastPoll }], 'web-07', lastPoll)).toBe('b-clone');
  });
});
