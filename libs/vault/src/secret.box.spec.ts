import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadKeyRing } from './key-ring.loader';
import { masterKey, newMasterKey, SecretBox } from './secret.box';

const A = masterKey(newMasterKey());
const B = masterKey(newMasterKey());

describe('SecretBox', () => {
  it('opens what it sealed, for any bytes and context', () => {
    const box = new SecretBox([A]);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.string({ maxLength: 64 }), (bytes, context) => {
        const plaintext = Buffer.from(bytes);
        expect(box.open(box.seal(plaintext, context), context)).toEqual(plaintext);
      }),
      { numRuns: 200 },
    );
  });

  it('never seals the same secret to the same bytes, and the sealed bytes do not contain it', () => {
    const box = new SecretBox([A]);
    const secret = Buffer.from('correct horse battery staple');
    const one = box.seal(secret, 'c1');
    const two = box.seal(secret, 'c1');
    expect(one.equals(two)).toBe(false);
    expect(one.includes(secret)).toBe(false);
  });

  it('refuses a secret copied onto another record (its context), or altered by one bit', () => {
    const box = new SecretBox([A]);
    const sealed = box.seal(Buffer.from('p4ss'), 'credential-1');
    expect(() => box.open(sealed, 'credential-2')).toThrow(`a secret sealed with master key ${A.id} does not open: it was altered, or it belongs to another record`);
    const altered = Buffer.from(sealed);
    altered[altered.length - 1] ^= 1;
    expect(() => box.open(altered, 'credential-1')).toThrow(/does not open/);
  });

  it('opens with an older key of the ring, seals with the first, and says which key is missing', () => {
    const old = new SecretBox([A]).seal(Buffer.from('s'), 'c');
    const ring = new SecretBox([B, A]);
    expect(ring.open(old, 'c').toString()).toBe('s');
    expect(ring.needsReseal(old)).toBe(true);
    const resealed = ring.seal(ring.open(old, 'c'), 'c');
    expect(ring.needsReseal(resealed)).toBe(false);
    expect(ring.keyIdOf(resealed)).toBe(B.id);
    expect(() => new SecretBox([B]).open(old, 'c')).toThrow(`this secret was sealed with master key ${A.id}, which the hub does not hold (it holds ${B.id})`);
  });

  it('names a malformed sealed value without showing it', () => {
    expect(() => new SecretBox([A]).open(Buffer.from('not sealed at all, just text'), 'c')).toThrow(/a sealed secret is malformed \(28 bytes, format 110\)/);
  });
});

describe('loadKeyRing', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'portolan-keys-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a key in the data directory on first start (0600) and reads the same one after', () => {
    const first = loadKeyRing({ dataDir: dir });
    expect(first.source).toBe('generated');
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const again = loadKeyRing({ dataDir: dir });
    expect(again.source).toBe('data-dir');
    expect(again.keys.map((k) => k.id)).toEqual(first.keys.map((k) => k.id));
  });

  it('gives an in-memory database a key of its own that is never written anywhere', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const ring = loadKeyRing({ dataDir: 'memory://' });
      expect(ring.source).toBe('ephemeral');
      expect(ring.keys).toHaveLength(1);
      expect(readdirSync(dir)).toEqual([]);
      expect(loadKeyRing({ dataDir: 'memory://' }).keys[0].id).not.toBe(ring.keys[0].id);
    } finally {
      process.chdir(cwd);
    }
  });

  it('takes keys from the environment or a file, the active one first', () => {
    const env = loadKeyRing({ keys: `${B.key.toString('base64')}, ${A.key.toString('base64')}`, dataDir: dir });
    expect(env.keys.map((k) => k.id)).toEqual([B.id, A.id]);
    const file = join(dir, 'keys');
    writeFileSync(file, `# rotated 2026-12-01\n${A.key.toString('base64')}\n${B.key.toString('base64')}\n`);
    expect(loadKeyRing({ file, dataDir: dir }).keys.map((k) => k.id)).toEqual([A.id, B.id]);
    expect(() => readFileSync(join(dir, 'master.key'))).toThrow(); // nothing generated
  });

  it('refuses a short key, garbage and a missing file, naming where, never echoing the key', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    expect(() => loadKeyRing({ keys: short, dataDir: dir })).toThrow('PORTOLAN_MASTER_KEYS: key 1 is 16 bytes; a master key is 32 bytes (openssl rand -base64 32)');
    expect(() => loadKeyRing({ keys: `${A.key.toString('base64')} not-base64!`, dataDir: dir })).toThrow('PORTOLAN_MASTER_KEYS: key 2 is not base64');
    expect(() => loadKeyRing({ file: join(dir, 'nope'), dataDir: dir })).toThrow(/PORTOLAN_MASTER_KEY_FILE: .*nope does not exist/);
    try {
      loadKeyRing({ keys: short, dataDir: dir });
    } catch (error) {
      expect(String(error)).not.toContain(short);
    }
  });
});
