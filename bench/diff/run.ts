/**
 * Diff benchmark: ndiff against Portolan's streaming parse + item diff on the same two nmap XML
 * files (see generate.ts). Both run as child processes under /usr/bin/time, so wall time and
 * peak RSS (%M) are measured the same way; each is run several times and the median is shown.
 * Portolan runs twice: compiled to plain JS on bare node (as a built app runs; the headline
 * figure) and through @swc-node/register (compiling TypeScript on the fly, for reference).
 *
 *   node -r @swc-node/register bench/diff/run.ts [runs]
 *
 * Needs: ndiff (apt-get install -y ndiff) and GNU time (apt-get install -y time).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compileForBench } from './bench-compile';

const ROOT = resolve(__dirname, '..', '..');
const OUT = join(ROOT, 'bench', 'out');
const A = join(OUT, 'scan-a.xml');
const B = join(OUT, 'scan-b.xml');
const TIME = '/usr/bin/time';
const MARK = 'BENCH_TIME';

interface Measurement {
  wallS: number;
  peakRssMb: number;
  status: number | null;
  stdout: string;
}

function which(command: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

function measure(command: string, args: string[]): Measurement {
  const started = performance.now();
  const run = spawnSync(TIME, ['-f', `${MARK} %e %M`, command, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const wallS = (performance.now() - started) / 1000;
  const line = run.stderr.split('\n').find((l) => l.startsWith(MARK));
  if (!line) throw new Error(`no ${TIME} report for ${command}: ${run.stderr.slice(-500)}`);
  const [, , maxRssKb] = line.split(' ');
  return { wallS, peakRssMb: Number(maxRssKb) / 1024, status: run.status, stdout: run.stdout };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function main(): void {
  const runs = Number(process.argv[2] ?? 3);
  const ndiff = which('ndiff');
  if (!ndiff || !existsSync(TIME)) {
    console.error('needs ndiff and GNU time: apt-get install -y ndiff time');
    process.exit(2);
  }
  if (!existsSync(A) || !existsSync(B)) {
    const generated = spawnSync(process.execPath, ['-r', '@swc-node/register', 'bench/diff/generate.ts'], { cwd: ROOT, stdio: 'inherit' });
    if (generated.status !== 0) process.exit(1);
  }
  const expected = JSON.parse(readFileSync(join(OUT, 'expected.json'), 'utf8')) as Record<string, number>;

  const compiledEntry = compileForBench(ROOT);
  const variants = {
    ndiff: { command: ndiff, args: [A, B], runs: [] as Measurement[] },
    compiled: { command: process.execPath, args: [compiledEntry, A, B], runs: [] as Measurement[] },
    register: {
      command: process.execPath,
      args: ['-r', '@swc-node/register', 'bench/diff/portolan-diff.ts', A, B],
      runs: [] as Measurement[],
    },
  };
  const internal: Record<string, number>[] = [];
  for (let i = 0; i < runs; i += 1) {
    for (const [name, variant] of Object.entries(variants)) {
      const m = measure(variant.command, variant.args);
      if (name === 'ndiff') {
        if (m.status !== 1) throw new Error(`ndiff exited ${m.status} (1 = files differ was expected)`);
      } else {
        if (m.status !== 0) throw new Error(`${name} portolan-diff exited ${m.status}`);
        const report = JSON.parse(m.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
        for (const key of ['added', 'removed', 'modified']) {
          if (report[key] !== expected[key]) throw new Error(`portolan found ${report[key]} ${key}, expected ${expected[key]}`);
        }
        if (name === 'compiled') internal.push(report);
      }
      variant.runs.push(m);
    }
  }

  const summary = (runsOf: Measurement[]) => ({
    time: median(runsOf.map((m) => m.wallS)),
    rss: median(runsOf.map((m) => m.peakRssMb)),
    each: runsOf.map((m) => m.wallS.toFixed(2)).join(', '),
  });
  const nd = summary(variants.ndiff.runs);
  const po = summary(variants.compiled.runs);
  const reg = summary(variants.register.runs);
  const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
  const line = (label: string, s: { time: number; rss: number; each: string }): string =>
    `  ${label.padEnd(36)} wall ${s.time.toFixed(2)} s   peak RSS ${s.rss.toFixed(0).padStart(4)} MB   (runs: ${s.each})`;
  const inner = (key: string): number => median(internal.map((r) => r[key]));

  console.log(`files: ${A} (${mb(readFileSync(A).length)} MB), ${B} (${mb(readFileSync(B).length)} MB)`);
  console.log(`changes generated: ${JSON.stringify(expected)}`);
  console.log(`median of ${runs} runs each`);
  console.log(line('ndiff', nd));
  console.log(line('portolan parse+diff (compiled JS)', po));
  console.log(line('portolan via @swc-node/register', reg));
  console.log(
    `  inside the compiled run: parse a ${inner('parseAMs')} ms, parse b ${inner('parseBMs')} ms, diff ${inner('diffMs')} ms, total ${inner('totalMs')} ms`,
  );
  console.log(`ratio ndiff / portolan (compiled): time ${(nd.time / po.time).toFixed(2)}x, peak RSS ${(nd.rss / po.rss).toFixed(2)}x`);
  console.log(`ratio ndiff / portolan (register): time ${(nd.time / reg.time).toFixed(2)}x, peak RSS ${(nd.rss / reg.rss).toFixed(2)}x`);
}

main();
