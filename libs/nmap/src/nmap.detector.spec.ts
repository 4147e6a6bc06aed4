import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { detectNmap, parseNmapVersion } from './nmap.detector';
import { createFakeNmap } from './test/fake-nmap';

describe('parseNmapVersion', () => {
  it('reads the version from `nmap --version` output', () => {
    const output = 'Nmap version 7.93 ( https://nmap.org )\nPlatform: x86_64-pc-linux-gnu\n';
    expect(parseNmapVersion(output)).toBe('7.93');
    expect(parseNmapVersion('Nmap version 7.95SVN ( https://nmap.org )')).toBe('7.95SVN');
    expect(parseNmapVersion('something else')).toBeNull();
  });
});

describe('detectNmap', () => {
  const cleanups: (() => void)[] = [];
  afterAll(() => cleanups.forEach((cleanup) => cleanup()));

  it('finds nmap on the given search path and reports its absolute path and version', async () => {
    const fake = createFakeNmap({ versionText: 'Nmap version 7.94 ( https://nmap.org )\n' });
    cleanups.push(fake.remove);
    const empty = mkdtempSync(join(tmpdir(), 'portolan-empty-'));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));

    const found = await detectNmap({ pathEnv: [empty, dirname(fake.path)].join(delimiter) });

    expect(found).toEqual({ path: fake.path, version: '7.94' });
  });

  it('skips relative PATH entries and executables that do not answer like nmap', async () => {
    const impostor = mkdtempSync(join(tmpdir(), 'portolan-impostor-'));
    cleanups.push(() => rmSync(impostor, { recursive: true, force: true }));
    writeFileSync(join(impostor, 'nmap'), '#!/bin/sh\necho "not nmap"\n');
    chmodSync(join(impostor, 'nmap'), 0o755);

    expect(await detectNmap({ pathEnv: ['.', '', 'relative/bin', impostor].join(delimiter) })).toBeNull();
  });

  it('returns null when nothing is found', async () => {
    expect(await detectNmap({ pathEnv: '' })).toBeNull();
  });
});
