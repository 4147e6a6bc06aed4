/**
 * Collector bench: read 200 emulated SSH devices (Cisco IOS emulators on 127.0.3.x, in a child
 * process of their own) with the collector's default concurrency, and report devices/minute and
 * the p95 time per device, beside the OpenSSH client run over the same devices from a shell loop
 * (one after another, and 16 at a time with xargs -P) in the same run.
 *
 *   node -r @swc-node/register bench/collectors/run.ts [--devices 200] [--rounds 3]
 *
 * Portolan runs the whole cisco-ios profile per device (one SSH session: the prompt, paging off
 * twice, `show control-plane host open-ports`, `show running-config`, both parsed into items);
 * OpenSSH runs `show running-config` on an exec channel, output discarded. Everything talks to
 * 127.0.3.x only; every loop is bounded in count and time.
 */
import { ChildProcess, execFileSync, fork, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { collectDevice, profileById } from '@portolan/collectors';
import { newEd25519KeyPair } from '@portolan/collectors/testing';
import { loadCollectorConfig } from '@portolan/config';

const ROOT = resolve(__dirname, '..', '..');
const PORT = 10022;
const USER = 'bench';

interface Figures {
  variant: string;
  wallMs: number;
  devicesPerMinute: number;
  p50Ms: number;
  p95Ms: number;
  failed: number;
}

function option(name: string, fallback: number, max: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new Error(`${name} must be an integer from 1 to ${max}`);
  return value;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
};
const median = (values: number[]) => percentile(values, 50);
const round = (n: number) => Math.round(n * 10) / 10;

function figures(variant: string, wallMs: number, perDevice: number[], failed: number): Figures {
  return { variant, wallMs: Math.round(wallMs), devicesPerMinute: round(((perDevice.length - failed) / wallMs) * 60_000), p50Ms: round(percentile(perDevice, 50)), p95Ms: round(percentile(perDevice, 95)), failed };
}

async function startEmulators(count: number, password: string, publicKey: string): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'emulators.ts'), [String(count), String(PORT), USER], {
    execArgv: ['-r', '@swc-node/register'],
    env: { ...process.env, BENCH_PASSWORD: password, BENCH_PUBLIC_KEY: publicKey },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error('the emulators did not start within 60 s')), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('"ready"')) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    child.once('exit', (code) => reject(new Error(`the emulators exited (${code})`)));
  });
  return child;
}

/** Portolan's collector engine over every device, `concurrency` at once, as a collector does. */
async function portolan(hosts: string[], password: string, concurrency: number, perHostTimeouts: { connectTimeoutMs: number; commandTimeoutMs: number; maxOutputBytes: number }): Promise<Figures> {
  const profile = profileById('cisco-ios')!;
  const times: number[] = [];
  let failed = 0;
  let next = 0;
  const t0 = performance.now();
  const workers = Array.from({ length: Math.min(concurrency, hosts.length) }, async () => {
    while (next < hosts.length) {
      const host = hosts[next++];
      const start = performance.now();
      try {
        const outcome = await collectDevice({ protocol: 'ssh', profile, host, port: PORT, ports: { tcp: [{ from: 1, to: 65535 }], udp: [{ from: 1, to: 65535 }] }, credential: { username: USER, password }, ...perHostTimeouts });
        if (!outcome.host.items?.length) throw new Error('no configuration read');
      } catch (error) {
        failed += 1;
        if (failed <= 3) process.stderr.write(`portolan ${host}: ${(error as Error).message}\n`);
      }
      times.push(performance.now() - start);
    }
  });
  await Promise.all(workers);
  return figures(`Portolan (collector engine, concurrency ${concurrency})`, performance.now() - t0, times, failed);
}

/** OpenSSH from a shell: one `ssh host 'show running-config'` per device, `parallel` at a time (1: a plain for loop). */
function openssh(hosts: string[], keyFile: string, parallel: number, dir: string): Figures {
  const script = join(dir, `loop-${parallel}.sh`);
  const times = join(dir, `times-${parallel}.txt`);
  const ssh = `ssh -q -i ${keyFile} -p ${PORT} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=15 ${USER}@"$1" 'show running-config' > /dev/null`;
  writeFileSync(
    script,
    `#!/bin/bash\none() { s=$(date +%s%N); if ${ssh}; then ok=1; else ok=0; fi; e=$(date +%s%N); echo "$(( (e - s) / 1000 )) $ok"; }\nexport -f one\n` +
      (parallel === 1 ? `for h in ${hosts.join(' ')}; do one "$h"; done > ${times}\n` : `printf '%s\\n' ${hosts.join(' ')} | xargs -P ${parallel} -I{} bash -c 'one {}' > ${times}\n`),
    { mode: 0o755 },
  );
  const t0 = performance.now();
  const run = spawnSync('bash', [script], { timeout: 10 * 60_000, stdio: ['ignore', 'ignore', 'inherit'] });
  const wall = performance.now() - t0;
  if (run.error) throw run.error;
  const rows = execFileSync('cat', [times]).toString().trim().split('\n').filter(Boolean).map((l) => l.split(' ').map(Number));
  return figures(parallel === 1 ? 'OpenSSH client, shell for-loop' : `OpenSSH client, xargs -P ${parallel}`, wall, rows.map(([us]) => us / 1000), rows.filter(([, ok]) => ok !== 1).length + (hosts.length - rows.length));
}

async function main(): Promise<void> {
  const devices = option('--devices', 200, 250);
  const rounds = option('--rounds', 3, 10);
  const config = loadCollectorConfig();
  const dir = mkdtempSync(join(tmpdir(), 'portolan-bench-collect-'));
  const password = randomBytes(12).toString('base64url');
  const key = newEd25519KeyPair();
  const keyFile = join(dir, 'id_ed25519');
  writeFileSync(keyFile, key.private, { mode: 0o600 });
  const hosts = Array.from({ length: devices }, (_, i) => `127.0.3.${i + 1}`);
  const emulators = await startEmulators(devices, password, key.public);
  const runs: Figures[][] = [];
  try {
    const timeouts = { connectTimeoutMs: config.connectTimeoutMs, commandTimeoutMs: config.commandTimeoutMs, maxOutputBytes: config.maxOutputBytes };
    await portolan(hosts.slice(0, 10), password, config.concurrency, timeouts); // warm-up: JIT, key exchange code paths
    for (let r = 0; r < rounds; r += 1) {
      const round: Figures[] = [await portolan(hosts, password, config.concurrency, timeouts), openssh(hosts, keyFile, config.concurrency, dir), openssh(hosts, keyFile, 1, dir)];
      runs.push(round);
      for (const f of round) process.stdout.write(`round ${r + 1}: ${f.variant}: ${f.devicesPerMinute}/min, p50 ${f.p50Ms} ms, p95 ${f.p95Ms} ms, wall ${f.wallMs} ms, failed ${f.failed}\n`);
    }
  } finally {
    emulators.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  const variants = runs[0].map((f) => f.variant);
  const summary = variants.map((variant, i) => {
    const all = runs.map((r) => r[i]);
    return { variant, devicesPerMinute: median(all.map((f) => f.devicesPerMinute)), p50Ms: median(all.map((f) => f.p50Ms)), p95Ms: median(all.map((f) => f.p95Ms)), failed: all.reduce((n, f) => n + f.failed, 0), runs: all.map((f) => f.devicesPerMinute) };
  });
  process.stdout.write(`\n| variant | devices/min (median of ${rounds}) | p50 per device | p95 per device | failed | runs |\n|---|---|---|---|---|---|\n`);
  for (const s of summary) process.stdout.write(`| ${s.variant} | ${s.devicesPerMinute} | ${s.p50Ms} ms | ${s.p95Ms} ms | ${s.failed} | ${s.runs.join(' ')} |\n`);
  const [p, xargs, loop] = summary;
  process.stdout.write(`\nPortolan over OpenSSH xargs -P ${config.concurrency}: ${round(p.devicesPerMinute / xargs.devicesPerMinute)}x devices/min; over the for-loop: ${round(p.devicesPerMinute / loop.devicesPerMinute)}x\n`);
  process.stdout.write(`Machine: ${cpus().length} CPUs (${cpus()[0]?.model}), Node ${process.version}, ${spawnSync('ssh', ['-V']).stderr.toString().trim()}\n`);
  mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'out', 'collectors-results.json'), JSON.stringify({ at: new Date().toISOString(), devices, rounds, concurrency: config.concurrency, summary, runs }, null, 2));
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack}\n`);
  process.exit(1);
});
