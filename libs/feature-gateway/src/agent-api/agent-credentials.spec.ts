import { credentialMatches, hashCredential, newAgentSecret, parseAgentAuthorization } from './agent-credentials';

describe('agent credentials', () => {
  it('matches only the secret whose hash is stored', () => {
    const secret = newAgentSecret();
    const hash = hashCredential(secret);
    expect(credentialMatches(secret, hash)).toBe(true);
    expect(credentialMatches(`${secret.slice(0, -1)}x`, hash)).toBe(false);
    expect(credentialMatches(secret, Buffer.alloc(4))).toBe(false);
  });

  it('parses "Bearer <agentId>.<secret>" and rejects anything else', () => {
    const id = '3f1c2a54-9a0e-4c1e-8d2b-0a1b2c3d4e5f';
    expect(parseAgentAuthorization(`Bearer ${id}.abcdefghijklmnopqrstuv`)).toEqual({ agentId: id, secret: 'abcdefghijklmnopqrstuv' });
    for (const bad of [undefined, '', 'Basic xyz', `Bearer ${id}`, `Bearer not-a-uuid.abcdefghijklmnopqrstuv`, `Bearer ${id}.short`, `Bearer ${id}.abc def ghijklmnopqrstuv`]) {
      expect(parseAgentAuthorization(bad)).toBeUndefined();
    }
  });
});
