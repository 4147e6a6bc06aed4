import { existsSync } from 'node:fs';
import { type as osType, version as osVersion } from 'node:os';
import { describeOs, osReleaseValue } from './os-description';

const KERNEL = `${osType()} ${osVersion()}`;
const files = (table: Record<string, string>) => async (path: string) => {
  if (path in table) return table[path];
  throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
};

describe('osReleaseValue', () => {
  it('reads double-quoted, single-quoted and bare values', () => {
    const text = 'NAME="Red Hat Enterprise Linux"\nVERSION_ID=9.3\nPRETTY_NAME=\'Red Hat Enterprise Linux 9.3 (Plow)\'\nID=rhel\n';
    expect([osReleaseValue(text, 'NAME'), osReleaseValue(text, 'VERSION_ID'), osReleaseValue(text, 'PRETTY_NAME'), osReleaseValue(text, 'ID')]).toEqual([
      'Red Hat Enterprise Linux',
      '9.3',
      'Red Hat Enterprise Linux 9.3 (Plow)',
      'rhel',
    ]);
  });

  it('undoes the escapes of double quotes, and takes the last assignment', () => {
    expect(osReleaseValue('PRETTY_NAME="old"\nPRETTY_NAME="Acme \\"Hardened\\" Linux \\$1"\n', 'PRETTY_NAME')).toBe('Acme "Hardened" Linux $1');
  });

  it('is undefined when unset, empty, or not a shell value', () => {
    expect(osReleaseValue('# PRETTY_NAME="commented"\nNAME=Linux\n', 'PRETTY_NAME')).toBeUndefined();
    expect(osReleaseValue('PRETTY_NAME=""\n', 'PRETTY_NAME')).toBeUndefined();
    expect(osReleaseValue('PRETTY_NAME=Ubuntu 22.04\n', 'PRETTY_NAME')).toBeUndefined();
    expect(osReleaseValue('PRETTY_NAME="unterminated\n', 'PRETTY_NAME')).toBeUndefined();
  });
});

describe('describeOs', () => {
  it('names the distribution on Linux, then the kernel', async () => {
    const read = files({ '/etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\n' });
    expect(await describeOs('linux', read)).toBe(`Ubuntu 22.04.4 LTS; ${KERNEL}`);
  });

  it('uses /usr/lib/os-release only when /etc/os-release does not exist, and NAME without PRETTY_NAME', async () => {
    expect(await describeOs('linux', files({ '/usr/lib/os-release': 'NAME="Fedora Linux"\n' }))).toBe(`Fedora Linux; ${KERNEL}`);
    expect(await describeOs('linux', files({ '/etc/os-release': 'ID=custom\n', '/usr/lib/os-release': 'NAME="Fedora Linux"\n' }))).toBe(KERNEL);
  });

  it('describes the kernel only when /etc/os-release is there but cannot be read', async () => {
    const read = async (path: string) => {
      if (path === '/etc/os-release') throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return 'NAME="Fedora Linux"\n';
    };
    expect(await describeOs('linux', read)).toBe(KERNEL);
  });

  it('falls back to the kernel without os-release, and elsewhere than Linux', async () => {
    expect(await describeOs('linux', files({}))).toBe(KERNEL);
    expect(await describeOs('win32', files({ '/etc/os-release': 'NAME="never read"\n' }))).toBe(KERNEL);
  });

  it('keeps the description within the 256 characters the hub takes', async () => {
    const description = await describeOs('linux', files({ '/etc/os-release': `PRETTY_NAME="${'x'.repeat(300)}"\n` }));
    expect(description).toHaveLength(256);
  });

  (process.platform === 'linux' && existsSync('/etc/os-release') ? it : it.skip)('describes this machine by its os-release', async () => {
    expect(await describeOs()).toMatch(/^\S.*; Linux /);
  });
});
