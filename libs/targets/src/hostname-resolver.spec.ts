import { DomainError } from '@portolan/contracts/errors';
import { resolveHostnames, type HostLookup } from './hostname-resolver';
import { parseTargetSpec } from './target-spec.parser';
import { formatTargetSpec } from './target-spec.format';

const table: Record<string, { address: string; family: number }[]> = {
  localhost: [
    { address: '127.0.0.1', family: 4 },
    { address: '0:0:0:0:0:0:0:1', family: 6 },
  ],
  'db.lan': [{ address: '127.0.0.2', family: 4 }],
  'alias.lan': [{ address: '127.0.0.2', family: 4 }],
  'empty.lan': [],
};

const fakeLookup: HostLookup = async (name) => {
  const found = table[name];
  if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return found;
};

describe('resolveHostnames', () => {
  it('replaces host names by all their addresses and remembers the names', async () => {
    const { spec, names } = await resolveHostnames(parseTargetSpec('127.0.0.3 localhost db.lan alias.lan'), fakeLookup);
    expect(formatTargetSpec(spec)).toBe('127.0.0.1-3 ::1');
    expect(names).toEqual({ '127.0.0.1': 'localhost', '::1': 'localhost', '127.0.0.2': 'alias.lan' });
  });

  it('leaves a spec without host names unchanged', async () => {
    const spec = parseTargetSpec('10.0.0.1-5 ::1');
    const lookup = jest.fn(fakeLookup);
    await expect(resolveHostnames(spec, lookup)).resolves.toEqual({ spec, names: {} });
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(['nowhere.lan', 'empty.lan'])('reports a name that does not resolve (%s)', async (name) => {
    const result = resolveHostnames(parseTargetSpec(`127.0.0.1 ${name}`), fakeLookup);
    await expect(result).rejects.toBeInstanceOf(DomainError);
    await expect(result).rejects.toMatchObject({
      code: 'invalid_target',
      message: `host name "${name}" does not resolve`,
    });
  });
});
