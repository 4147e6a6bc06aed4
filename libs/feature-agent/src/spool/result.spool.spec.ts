import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ResultSpool, type SpoolLimits, type SpoolLog } from './result.spool';
import { encodeEntry } from './spool-entry.codec';
import { lockText, parseLock } from './spool-lock';

const roomy: SpoolLimits = { maxEntries: 1000, maxBytes: 10 * 1024 * 1024 };

describe('ResultSpool', () => {
  let dir: string;
  let logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  const open: ResultSpool[] = [];
  const log: SpoolLog = (level, msg, fields) => logs.push({ level, msg, fields });

  async function openSpool(limits: SpoolLimits = roomy): Promise<ResultSpool> {
    const spool = new ResultSpool(dir, limits, log);
    await spool.open();
    open.push(spool);
    return spool;
  }

  async function reopen(spool: ResultSpool, limits: SpoolLimits = roomy): Promise<ResultSpool> {
    await spool.close();
    return openSpool(limits);
  }

  const result = (n: number, size = 16) => ({
    idempotencyKey: `key-${n}`,
    kind: 'scan-result',
    body: Buffer.alloc(size, n),
  });

  async function drain(spool: ResultSpool): Promise<string[]> {
    const keys: string[] = [];
    for (let entry = await spool.peek(); entry; entry = await spool.peek()) {
      keys.push(entry.idempotencyKey);
      await spool.remove(entry.seq);
    }
    return keys;
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portolan-spool-'));
    logs = [];
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps order and idempotency keys across restarts, and seq keeps rising after emptying', async () => {
    let spool = await openSpool();
    for (const n of [1, 2, 3]) await spool.append(result(n));

    spool = await reopen(spool);
    expect(spool.depth()).toMatchObject({ entries: 3 });
    const first = await spool.peek();
    expect(first).toMatchObject({ seq: 1, idempotencyKey: 'key-1', kind: 'scan-result' });
    expect(first?.body.equals(result(1).body)).toBe(true);
    expect(await drain(spool)).toEqual(['key-1', 'key-2', 'key-3']);
    expect(spool.depth()).toEqual({ entries: 0, bytes: 0, dropped: 0, corrupt: 0 });

    spool = await reopen(spool);
    expect((await spool.append(result(4))).seq).toBe(4);
  });

  it('says which refs (job ids) it holds, here and after a restart, until their entries are removed, discarded or dropped', async () => {
    let spool = await openSpool({ maxEntries: 3, maxBytes: roomy.maxBytes });
    await spool.append({ ...result(1), ref: 'job-a' });
    await spool.append({ ...result(2), ref: 'job-b' });
    await spool.append({ ...result(3), ref: 'job-b' }); // the same job twice: held until both are gone
    await spool.append(result(4)); // no ref; drops the oldest (job-a)
    expect([spool.holds('job-a'), spool.holds('job-b')]).toEqual([false, true]);
    await expect(spool.append({ ...result(5), ref: '' })).rejects.toThrow('ref must be a string of 1..256 characters when given');

    spool = await reopen(spool, { maxEntries: 3, maxBytes: roomy.maxBytes });
    expect([spool.holds('job-a'), spool.holds('job-b')]).toEqual([false, true]);
    expect(spool.heldRefs()).toEqual(['job-b']);
    const second = await spool.peek();
    expect(second).toMatchObject({ seq: 2, ref: 'job-b' });
    await spool.remove(second!.seq);
    expect(spool.holds('job-b')).toBe(true);
    await spool.remove((await spool.peek())!.seq);
    expect(spool.holds('job-b')).toBe(false);

    await spool.append({ ...result(6), ref: 'job-c' });
    await spool.discardAll();
    expect(spool.holds('job-c')).toBe(false);
  });

  it('discards every entry at once (not counted as dropped), durably, and seq keeps rising', async () => {
    let spool = await openSpool();
    for (const n of [1, 2, 3]) await spool.append(result(n));
    expect(await spool.discardAll()).toBe(3);
    expect(spool.depth()).toEqual({ entries: 0, bytes: 0, dropped: 0, corrupt: 0 });
    expect(await spool.peek()).toBeUndefined();
    expect(await spool.discardAll()).toBe(0);

    spool = await reopen(spool);
    expect(spool.depth().entries).toBe(0);
    expect((await spool.append(result(4))).seq).toBe(4);
  });

  it('recovers from a crash mid-write: temp files deleted, a torn entry moved to corrupt/', async () => {
    let spool = await openSpool();
    for (const n of [1, 2, 3]) await spool.append(result(n, 100));
    await spool.close();
    await writeFile(join(dir, '000000000004.entry.tmp'), 'PSPL1 half');
    await truncate(join(dir, '000000000002.entry'), 40);

    spool = await openSpool();
    const names = await readdir(dir);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(await readdir(join(dir, 'corrupt'))).toEqual(['000000000002.entry']);
    expect(spool.depth()).toMatchObject({ entries: 2, corrupt: 1 });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'corrupt spool entry moved aside' }));
    expect(await drain(spool)).toEqual(['key-1', 'key-3']);
    expect((await spool.append(result(5))).seq).toBe(4);
  });

  it('detects a checksum mismatch at peek and never hands the entry out', async () => {
    const spool = await openSpool();
    await spool.append(result(1));
    await spool.append(result(2));
    const path = join(dir, '000000000001.entry');
    const file = await readFile(path);
    file[file.length - 1] ^= 0xff; // flip a body byte, same length
    await writeFile(path, file);

    const head = await spool.peek();
    expect(head?.idempotencyKey).toBe('key-2');
    expect(spool.depth()).toMatchObject({ entries: 1, corrupt: 1 });
    const warning = logs.find((l) => l.msg === 'corrupt spool entry moved aside');
    expect(warning?.fields).toMatchObject({ seq: 1, reason: 'body checksum mismatch' });
  });

  it('drops the oldest entries when maxEntries is reached and says which', async () => {
    const spool = await openSpool({ maxEntries: 3, maxBytes: roomy.maxBytes });
    for (const n of [1, 2, 3, 4, 5]) await spool.append({ ...result(n), body: Buffer.from(`host data ${n}`) });

    expect(spool.depth()).toMatchObject({ entries: 3, dropped: 2 });
    const warnings = logs.filter((l) => l.msg === 'spool full: dropped oldest entries');
    expect(warnings.map((w) => w.fields?.seqs)).toEqual([[1], [2]]);
    expect(JSON.stringify(logs)).not.toContain('host data');
    expect(await drain(spool)).toEqual(['key-3', 'key-4', 'key-5']);
  });

  it('drops the oldest entries when maxBytes is reached', async () => {
    const size = encodeEntry({ seq: 1, createdAt: new Date().toISOString(), ...result(1, 500) }).length;
    const spool = await openSpool({ maxEntries: 100, maxBytes: size * 2 + 10 });
    for (const n of [1, 2, 3]) await spool.append(result(n, 500));

    expect(spool.depth()).toMatchObject({ entries: 2, dropped: 1 });
    expect(spool.depth().bytes).toBeLessThanOrEqual(size * 2 + 10);
    expect(await drain(spool)).toEqual(['key-2', 'key-3']);
  });

  it('rejects a single entry larger than maxBytes, naming its size and the limit', async () => {
    const spool = await openSpool({ maxEntries: 10, maxBytes: 1000 });
    await spool.append(result(1));

    await expect(spool.append(result(2, 2000))).rejects.toThrow(/entry of 2\d{3} bytes .*limit of 1000 bytes/);
    expect(spool.depth()).toMatchObject({ entries: 1, dropped: 0 });
    expect((await spool.append(result(3))).seq).toBe(2);
  });

  it('gives concurrent appends distinct, increasing seqs in call order', async () => {
    const spool = await openSpool();
    const entries = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => spool.append(result(n))));

    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const removals = entries.filter((e) => e.seq % 2 === 1).map((e) => spool.remove(e.seq));
    await Promise.all([...removals, spool.append(result(9))]);
    expect(await drain(spool)).toEqual(['key-2', 'key-4', 'key-6', 'key-8', 'key-9']);
  });

  it('refuses a spool directory locked by a live process, and frees it on close', async () => {
    const first = await openSpool();
    const second = new ResultSpool(dir, roomy, log);

    await expect(second.open()).rejects.toThrow(`in use by another agent (pid ${process.pid})`);
    await first.close();
    await second.open();
    open.push(second);
    expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lockText());
    expect(parseLock(lockText())).toEqual(
      process.platform === 'linux'
        ? { pid: process.pid, bootId: expect.stringMatching(/^[0-9a-f-]{36}$/), pidNamespace: expect.stringMatching(/^pid:\[\d+\]$/), startTicks: expect.stringMatching(/^\d+$/) }
        : { pid: process.pid },
    );
  });

  it('refuses a spool directory locked by another live agent process', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'lock'), lockText(other.pid));
      await expect(new ResultSpool(dir, roomy, log).open()).rejects.toThrow(`in use by another agent (pid ${other.pid})`);
    } finally {
      other.kill();
    }
  });

  (process.platform === 'linux' ? it : it.skip)(
    'takes over a lock whose pid is alive but is not its writer: written before a reboot or on the machine an image was cloned from, by an earlier process with the pid, or by an older agent with our own pid (a restarted container)',
    async () => {
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
      try {
        const live = parseLock(lockText(other.pid))!;
        for (const text of [
          `${other.pid}\nboot=00000000-0000-4000-8000-000000000000\nstart=${live.startTicks}\n`, // another boot, another machine
          `${other.pid}\nboot=${live.bootId}\nstart=1\n`, // the pid is a later process's now
          `${process.pid}\n`, // an older agent's lock naming the pid this process has now
          `${process.pid}\nboot=${live.bootId}\npidns=pid:[1]\nstart=1\n`, // another container's agent, silent for a minute (below)
        ]) {
          await writeFile(join(dir, 'lock'), text);
          const minuteAgo = new Date(Date.now() - 60_000);
          await utimes(join(dir, 'lock'), minuteAgo, minuteAgo);
          const spool = new ResultSpool(dir, roomy, log);
          await spool.open();
          expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lockText());
          await spool.close();
        }
        expect(logs.filter((l) => l.msg === 'taking over stale spool lock')).toHaveLength(4);
      } finally {
        other.kill();
      }
    },
  );

  (process.platform === 'linux' ? it : it.skip)(
    "waits on a lock of another pid namespace touched lately: refused if its holder touches it again (another container's agent), taken over if not (this container before it restarted)",
    async () => {
      const timing = { refreshMs: 50, staleMs: 400 };
      const foreign = `${process.pid}\nboot=${parseLock(lockText())!.bootId}\npidns=pid:[1]\nstart=1\n`;
      await writeFile(join(dir, 'lock'), foreign);
      const touching = setInterval(() => {
        const now = new Date();
        void utimes(join(dir, 'lock'), now, now).catch(() => undefined);
      }, 50);
      try {
        await expect(new ResultSpool(dir, roomy, log, timing).open()).rejects.toThrow('in use by another agent');
      } finally {
        clearInterval(touching);
      }
      expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(foreign);

      const now = new Date();
      await utimes(join(dir, 'lock'), now, now); // touched just now, then never again
      const waited = Date.now();
      const spool = new ResultSpool(dir, roomy, log, timing);
      await spool.open();
      open.push(spool);
      expect(Date.now() - waited).toBeGreaterThanOrEqual(300);
      expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lockText());
    },
  );

  it('takes over a lock left by a process that is gone', async () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(join(dir, 'lock'), `${gone}\n`);

    await openSpool();
    expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lockText());
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'taking over stale spool lock', fields: { dir, stalePid: gone } }));
  });

  it('touches its lock while open, and stops when closed', async () => {
    const spool = new ResultSpool(dir, roomy, log, { refreshMs: 50, staleMs: 300 });
    await spool.open();
    const long = new Date(Date.now() - 3_600_000);
    await utimes(join(dir, 'lock'), long, long);
    const deadline = Date.now() + 5_000;
    while ((await stat(join(dir, 'lock'))).mtimeMs < Date.now() - 60_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect((await stat(join(dir, 'lock'))).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
    await spool.close();
    await expect(stat(join(dir, 'lock'))).rejects.toThrow(/ENOENT/);
  });

  (process.platform === 'win32' ? it.skip : it)('keeps the directory 0700 and entry files 0600', async () => {
    const spool = await openSpool();
    await spool.append(result(1));

    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, '000000000001.entry'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'lock'))).mode & 0o777).toBe(0o600);
  });

  it('peek order equals append order of what was neither removed nor dropped (property)', async () => {
    const limits: SpoolLimits = { maxEntries: 4, maxBytes: 1200 };
    const op = fc.oneof(
      { arbitrary: fc.record({ op: fc.constant('append' as const), size: fc.integer({ min: 0, max: 400 }) }), weight: 5 },
      { arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ op: fc.constant('reopen' as const) }), weight: 1 },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 14 }), async (ops) => {
        await rm(dir, { recursive: true, force: true });
        let spool = await openSpool(limits);
        const model: { seq: number; key: string; size: number }[] = [];
        let n = 0;
        let lastSeq = 0;
        for (const step of ops) {
          if (step.op === 'append') {
            const entry = await spool.append(result(++n, step.size));
            expect(entry.seq).toBeGreaterThan(lastSeq);
            lastSeq = entry.seq;
            model.push({ seq: entry.seq, key: entry.idempotencyKey, size: encodeEntry(entry).length });
            const total = () => model.reduce((sum, e) => sum + e.size, 0);
            while (model.length > limits.maxEntries || total() > limits.maxBytes) model.shift();
          } else if (step.op === 'remove') {
            const victim = model.length ? model.splice(step.pick % model.length, 1)[0].seq : step.pick + 1;
            await spool.remove(victim);
          } else {
            spool = await reopen(spool, limits);
          }
          expect(spool.depth().entries).toBe(model.length);
        }
        spool = await reopen(spool, limits);
        expect(await drain(spool)).toEqual(model.map((e) => e.key));
        await spool.close();
      }),
      { numRuns: 60 },
    );
  });
});
