import { newOperatorToken, operatorTokenHint, readBearer, roleMayCall } from './operator-credentials';

describe('operator credentials', () => {
  it('makes tokens of 256 random bits with a recognisable prefix', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newOperatorToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^ptop_[A-Za-z0-9_-]{43}$/);
  });

  it('shows only a short hint of a token', () => {
    expect(operatorTokenHint('ptop_abcdefghijklmnop')).toBe('ptop_abcd');
  });

  it.each([
    [undefined, { kind: 'missing' }],
    ['', { kind: 'missing' }],
    ['   ', { kind: 'missing' }],
    ['Basic YWRtaW46YWRtaW4=', { kind: 'malformed' }],
    ['Bearer', { kind: 'malformed' }],
    ['Bearer two words', { kind: 'malformed' }],
    [`Bearer ${'x'.repeat(257)}`, { kind: 'malformed' }],
    ['Bearer 0b0f4c2e-1d1a-4b7e-9a55-3f1f6f0e1a01.abcdefghijklmnopqrstuvwxyz012345', { kind: 'agent' }],
    ['Bearer ptop_abc', { kind: 'token', token: 'ptop_abc' }],
    ['bearer  my-own-token-from-the-vault ', { kind: 'token', token: 'my-own-token-from-the-vault' }],
  ])('reads %j as %j', (header, reading) => {
    expect(readBearer(header)).toEqual(reading);
  });

  it('lets an admin do anything and a viewer only read', () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE']) expect(roleMayCall('admin', method)).toBe(true);
    expect(['GET', 'HEAD', 'get'].map((m) => roleMayCall('viewer', m))).toEqual([true, true, true]);
    expect(['POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS'].map((m) => roleMayCall('viewer', m))).toEqual([false, false, false, false, false]);
  });
});
